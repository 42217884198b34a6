/**
 * A network partition between real hosts: network namespaces joined by veth pairs to two bridges
 * (side A, side B) in a switch namespace, the bridges joined by one more veth pair — the trunk.
 * Taking the trunk down splits the mesh; each side stays connected inside. Nothing is added to
 * this machine's own namespace, and every address lives in namespaces this test creates.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cli } from '../cli/helpers.js'
import {
  assertBalances,
  CrashNode,
  checkReceipts,
  EXAMPLES,
  type JobJson,
  type LedgerJson,
  type ReceiptJson,
  run,
  waitFor,
} from './helpers.js'

const PRIMES = join(EXAMPLES, 'primes.wasm')
/** RFC 2544 benchmarking range: never routed, and only ever used inside our own namespaces. */
const SUBNET = '198.18.0'
const TAG = `p1-${process.pid}`
const SWITCH = `${TAG}-sw`
/** Host i lives in namespace `${TAG}-h<i>` at 198.18.0.<i + 1>; hosts 0–2 are side A, 3–4 side B. */
const HOSTS = 5
const SIDE_A = [0, 1, 2]
const host = (i: number): string => `${TAG}-h${i}`

function canRun(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (CI runs it as root)'
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' })
  } catch {
    return 'needs the `ip` command (iproute2)'
  }
  return undefined
}

async function ip(...args: string[]): Promise<void> {
  const r = await run(['ip', ...args], 10_000)
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`)
}

async function createNetwork(): Promise<void> {
  await ip('netns', 'add', SWITCH)
  for (let i = 0; i < HOSTS; i++) await ip('netns', 'add', host(i))
  await ip('-n', SWITCH, 'link', 'add', 'brA', 'type', 'bridge')
  await ip('-n', SWITCH, 'link', 'add', 'brB', 'type', 'bridge')
  await ip('-n', SWITCH, 'link', 'add', 'trunkA', 'type', 'veth', 'peer', 'name', 'trunkB')
  await ip('-n', SWITCH, 'link', 'set', 'trunkA', 'master', 'brA')
  await ip('-n', SWITCH, 'link', 'set', 'trunkB', 'master', 'brB')
  for (let i = 0; i < HOSTS; i++) {
    const port = `port${i}`
    await ip('-n', SWITCH, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host(i))
    await ip('-n', SWITCH, 'link', 'set', port, 'master', SIDE_A.includes(i) ? 'brA' : 'brB')
    await ip('-n', SWITCH, 'link', 'set', port, 'up')
    await ip('-n', host(i), 'addr', 'add', `${SUBNET}.${i + 1}/24`, 'dev', 'eth0')
    await ip('-n', host(i), 'link', 'set', 'eth0', 'up')
    await ip('-n', host(i), 'link', 'set', 'lo', 'up')
  }
  for (const l of ['brA', 'brB', 'trunkA', 'trunkB']) await ip('-n', SWITCH, 'link', 'set', l, 'up')
}

async function removeNetwork(): Promise<void> {
  for (const ns of [SWITCH, ...Array.from({ length: HOSTS }, (_, i) => host(i))]) {
    await run(['ip', 'netns', 'del', ns], 10_000).catch(() => undefined)
  }
}

/** Whether a TCP connection from namespace `ns` to `ip:port` opens within a second. */
async function reachable(ns: string, address: string): Promise<boolean> {
  const m = /\/ip4\/([\d.]+)\/tcp\/(\d+)/.exec(address)
  assert.ok(m != null, address)
  const script = `const s=require('net').connect(${m[2]},'${m[1]}');s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(2),1000)`
  const r = await run(['ip', 'netns', 'exec', ns, process.execPath, '-e', script], 10_000)
  return r.code === 0
}

const skip = canRun()

describe('a network partition between hosts (ip netns + veth)', { skip }, () => {
  let work: string
  const nodes: CrashNode[] = []
  const sideA = (): CrashNode[] => nodes.filter((_, i) => SIDE_A.includes(i))
  const sideB = (): CrashNode[] => nodes.filter((_, i) => !SIDE_A.includes(i))
  let inputs: string

  before(async () => {
    await removeNetwork()
    work = await mkdtemp(join(tmpdir(), 'plusone-crash-partition-'))
    inputs = join(work, 'in')
    await mkdir(inputs)
    for (let i = 0; i < 4; i++)
      await writeFile(join(inputs, `r${i}.txt`), `${i * 100_000} ${(i + 1) * 100_000}`)
    const key = join(work, 'swarm.key')
    await writeFile(key, (await cli(['swarm-key'])).stdout, { mode: 0o600 })
    await createNetwork()
    for (let i = 0; i < HOSTS; i++) {
      // host 0 submits and executes nothing; the others execute
      const role = i === 0 ? ['--max-tasks', '0'] : ['--cpus', '1', '--max-tasks', '1']
      nodes.push(
        new CrashNode(
          `h${i}`,
          join(work, `h${i}`),
          ['--listen', `/ip4/${SUBNET}.${i + 1}/tcp/0`, '--swarm-key', key, ...role],
          ['ip', 'netns', 'exec', host(i)],
        ),
      )
    }
    await Promise.all(nodes.map((n) => n.init()))
    await nodes[1].start()
    for (const n of nodes) if (n !== nodes[1]) await n.start([nodes[1].address])
    await waitFor(
      'the submitter to know all 4 executors',
      async () => ((await nodes[0].json<unknown[]>(['nodes', '--json'])).length >= 5 ? true : undefined),
      60_000,
      500,
    )
  })

  after(async () => {
    await Promise.all(nodes.map((n) => n.kill()))
    await removeNetwork()
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  const submit = async (): Promise<string> => {
    const r = await nodes[0].cli([
      'submit',
      PRIMES,
      '--inputs',
      inputs,
      '--replicas',
      '2',
      '--deadline',
      '5s',
    ])
    assert.equal(r.code, 0, r.stderr)
    return r.stdout.trim()
  }
  const waitDone = (id: string): Promise<JobJson> =>
    waitFor(
      `job ${id} to finish`,
      async () => {
        const s = await nodes[0].json<JobJson>(['status', id, '--json'])
        return s.status === 'running' ? undefined : s
      },
      60_000,
      500,
    )
  const receiptsOf = (n: CrashNode): Promise<ReceiptJson[]> => n.receipts()
  let partitionJob: string

  it('before the partition a job runs across both sides', async () => {
    const job = await waitDone(await submit())
    assert.equal(job.status, 'done')
  })

  it('partitioned, tasks continue on the side with enough executors', async () => {
    await ip('-n', SWITCH, 'link', 'set', 'trunkA', 'down')
    assert.equal(await reachable(host(3), nodes[0].address), false, 'side B still reaches side A')
    assert.equal(await reachable(host(2), nodes[0].address), true, 'side A is split inside')

    partitionJob = await submit()
    const job = await waitDone(partitionJob)
    assert.equal(job.status, 'done')
    const ids = new Set(job.tasks.map((t) => t.taskId))
    const settled = await waitFor(
      'receipts of the partitioned job',
      async () => {
        const all = (await receiptsOf(nodes[0])).filter((r) => ids.has(r.taskId))
        return all.filter((r) => r.verdict === 'accepted').length >= 2 * ids.size ? all : undefined
      },
      30_000,
      500,
    )
    const sideAPeers = new Set(sideA().map((n) => n.peerId))
    for (const r of settled.filter((x) => x.verdict === 'accepted')) {
      assert.ok(sideAPeers.has(r.executor), `a side-B executor ${r.executor} was paid during the partition`)
    }
    // side B cannot have heard of them
    for (const n of sideB()) {
      const theirs = (await receiptsOf(n)).filter((r) => ids.has(r.taskId))
      assert.deepEqual(theirs, [], `${n.name} heard receipts across the partition`)
    }
    // hold the partition until the mesh notices it: the submitter drops its connections to side B
    // (a short cut would heal inside TCP's retransmission and hide the partition from gossip)
    const sideBPeers = new Set(sideB().map((n) => n.peerId))
    await waitFor(
      'the submitter to drop its connections to side B',
      async () => {
        const peers = await nodes[0].json<Array<{ peerId: string }>>(['peers', '--json'])
        return peers.some((p) => sideBPeers.has(p.peerId)) ? undefined : true
      },
      90_000,
      1_000,
    )
  })

  it('after healing, every ledger holds the same receipts and balances equal their sums', async () => {
    await ip('-n', SWITCH, 'link', 'set', 'trunkA', 'up')
    assert.equal(await reachable(host(3), nodes[0].address), true, 'the trunk is back')
    const key = (rs: ReceiptJson[]): string =>
      rs
        .map((r) => `${r.id}:${r.signed}`)
        .sort()
        .join('\n')
    const reference = await receiptsOf(nodes[0])
    await waitFor(
      'every ledger to hold the submitter’s receipts',
      async () => {
        for (const n of nodes.slice(1)) if (key(await receiptsOf(n)) !== key(reference)) return undefined
        return true
      },
      60_000,
      1_000,
    ).catch(async (err: Error) => {
      const missing = await Promise.all(
        nodes.map(async (n) => {
          const ids = new Set((await receiptsOf(n)).map((r) => r.id))
          const lacks = reference.filter((r) => !ids.has(r.id))
          const fromPartition = lacks.filter((r) => r.jobId === partitionJob).length
          return `${n.name}: lacks ${lacks.length} of ${reference.length} (${fromPartition} from the partition)`
        }),
      )
      throw new Error(`${err.message}\n${missing.join('\n')}`)
    })
    const sums = checkReceipts(reference)
    for (const n of nodes) assertBalances(await n.json<LedgerJson>(['ledger', '--json']), sums)
  })
})
