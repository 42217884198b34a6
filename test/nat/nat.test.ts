/**
 * Home computers behind NAT in a lab of network namespaces (see lab.ts): two public relay nodes
 * P and P2, four homes A, B, C, U behind their own masquerading routers, and an outsider without
 * the swarm key. U's router runs miniupnpd and U (UPnP is on by default) becomes reachable
 * through the port its router forwards. A job from home A runs mostly on homes B, C and U (P2 is the only
 * other executor), so its bids, awards, claims and blobs cross two NATs: exactly what failed
 * before relays ("no bids", "1 bid, 3 replicas asked").
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cli } from '../cli/helpers.js'
import {
  CrashNode,
  checkReceipts,
  EXAMPLES,
  type JobJson,
  localOutputs,
  type ReceiptJson,
  waitFor,
  writeShaInput,
} from '../crash/helpers.js'
import { type Home, type Host, LAB_PORT, labUnavailable, NatLab } from './lab.js'

const SHA = join(EXAMPLES, 'sha256.wasm')
const PORT = LAB_PORT
const skip = labUnavailable({ upnp: true })

interface IdJson {
  peerId: string
  addresses: string[]
  reachability?: 'public' | 'private' | 'unknown'
}

const isCircuit = (a: string): boolean => a.includes('/p2p-circuit')

interface PeerJson {
  peerId: string
  connections?: Array<{ kind: string; via?: string }>
}

describe('home computers behind NAT (network namespaces, nftables masquerade)', { skip }, () => {
  let work: string
  let lab: NatLab
  let key: string
  const nodes = new Map<string, CrashNode>()
  const killed = new Set<string>()
  const node = (name: string): CrashNode => nodes.get(name) as CrashNode
  const homes = ['a', 'b', 'c', 'u']
  /** Homes whose routers do not forward ports: reachable only through relays. */
  const natted = ['a', 'b', 'c']
  const relayNames = ['p', 'p2', 'u']
  const executors = ['b', 'c', 'u']
  let inputs: string
  let expected: Map<string, Buffer>

  const make = (host: Host, extra: string[]): CrashNode => {
    const n = lab.plusone(host, join(work, host.name), extra)
    nodes.set(host.name, n)
    return n
  }
  const idOf = (name: string): Promise<IdJson> => node(name).json<IdJson>(['id', '--json'])

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'plusone-nat-'))
    lab = new NatLab(work)
    key = join(work, 'swarm.key')
    await writeFile(key, (await cli(['swarm-key'])).stdout, { mode: 0o600 })
    inputs = join(work, 'in')
    await mkdir(inputs)
    // 2 MiB of message: far beyond a default relay's 128 KiB per connection
    const big = join(inputs, 'big.bin')
    await writeShaInput(
      big,
      2,
      randomBytes(2 * 1024 * 1024)
        .toString('hex')
        .slice(0, 2 * 1024 * 1024),
    )
    const small = join(inputs, 'small.bin')
    await writeShaInput(small, 1000, 'behind a home router')
    expected = await localOutputs(
      SHA,
      new Map([
        ['big.bin', big],
        ['small.bin', small],
      ]),
      work,
    )

    await lab.start()
    // hosts are independent of each other: build them side by side
    const [p, p2, , stun] = await Promise.all([
      lab.addPublic('p', 1),
      lab.addPublic('p2', 2),
      lab.addPublic('out', 9),
      lab.addStun('stun', 5),
    ])
    const homeHosts = await Promise.all(
      homes.map((h, i) => lab.addHome(h, 11 + i, 1 + i, h === 'u' ? { upnp: { stun } } : {})),
    )
    const member = ['--swarm-key', key]
    // P only relays; P2 relays and executes, so a task can still be reissued when P dies
    make(p, [...member, '--max-tasks', '0'])
    make(p2, [...member, '--cpus', '1', '--max-tasks', '1'])
    for (const h of homeHosts) {
      const role = h.name === 'a' ? ['--max-tasks', '0'] : ['--cpus', '1', '--max-tasks', '1']
      // UPnP is on by default: U maps its port because its router answers, the others find none
      make(h, [...member, ...role])
    }
    await Promise.all([...nodes.values()].map((n) => n.init()))
    await node('p').start()
    const pAddr = `/ip4/${p.ip}/tcp/${PORT}/p2p/${node('p').peerId}`
    await node('p2').start([pAddr])
    // settle every start before failing, so the after hook can stop each daemon that did start
    const started = await Promise.allSettled(homes.map((h) => node(h).start([pAddr])))
    for (const r of started) if (r.status === 'rejected') throw r.reason
    await waitFor(
      'the relays and the UPnP home to be reachable and every other home to hold two relay reservations',
      async () => {
        const ids = await Promise.all([...relayNames, ...natted].map(idOf))
        const ready = ids.every((id, i) =>
          i < relayNames.length
            ? id.reachability === 'public'
            : id.reachability === 'private' && id.addresses.filter(isCircuit).length >= 2,
        )
        return ready ? true : undefined
      },
      60_000,
      1_000,
    ).catch(async (err: Error) => {
      const ids = await Promise.all(
        [...nodes.keys()].map(async (n) => `${n}: ${JSON.stringify(await idOf(n))}`),
      )
      const upnp = await node('u').cli(['doctor', '--json'])
      throw new Error(`${err.message}\n${ids.join('\n')}\nu's doctor: ${upnp.stdout}${upnp.stderr}`)
    })
  })

  after(async () => {
    // a daemon that died on its own is a bug: show what it said
    for (const [name, n] of nodes) {
      if (n.proc != null && !n.alive() && !killed.has(name)) {
        console.error(`daemon ${name} exited by itself:\n${n.proc.output().slice(-4000)}`)
      }
    }
    await Promise.all([...nodes.values()].map((n) => n.kill()))
    const logs = process.env.PLUSONE_LAB_LOGS
    if (logs != null)
      for (const [name, n] of nodes) await writeFile(join(logs, `${name}.log`), n.proc?.output() ?? '')
    await lab?.stop()
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  /** Submits the input directory from home A at k=3 and returns the job id. */
  const submit = async (): Promise<string> => {
    const args = ['submit', SHA, '--inputs', inputs, '--replicas', '3', '--deadline', '30s', '--fuel', '10G']
    const r = await node('a').cli(args)
    assert.equal(r.code, 0, r.stderr)
    return r.stdout.trim()
  }
  const finish = (jobId: string, what: string): Promise<JobJson> =>
    waitFor(
      `job ${jobId} ${what}`,
      async () => {
        const st = await node('a').json<JobJson>(['status', jobId, '--json'])
        return st.status === 'running' ? undefined : st
      },
      90_000,
      500,
    ).catch(async (err: Error) => {
      const st = await node('a').cli(['status', jobId])
      throw new Error(`${err.message}\n${st.stdout}${st.stderr}`)
    })
  /** The job is done and every output equals what `plusone run` computed locally. */
  const checkOutputs = async (job: JobJson, dir: string): Promise<void> => {
    assert.equal(job.status, 'done')
    await mkdir(join(work, dir), { recursive: true })
    for (const t of job.tasks) {
      const file = join(work, dir, t.input)
      const res = await node('a').cli(['result', t.taskId, '-o', file])
      assert.equal(res.code, 0, res.stderr)
      assert.deepEqual(await readFile(file), expected.get(t.input), `output of ${t.input}`)
    }
  }

  it('dial-back tells public relays from homes; homes advertise only relay addresses', async () => {
    const reachable = new Set(relayNames.map((r) => node(r).peerId))
    const ids = new Map(await Promise.all([...nodes.keys()].map(async (n) => [n, await idOf(n)] as const)))
    for (const r of ['p', 'p2']) {
      const id = ids.get(r) as IdJson
      assert.equal(id.reachability, 'public')
      assert.deepEqual(
        id.addresses,
        [`/ip4/${lab.hosts.get(r)?.ip}/tcp/${PORT}/p2p/${id.peerId}`],
        'a public node advertises the address a peer dialled back, and no loopback',
      )
    }
    for (const h of natted) {
      const id = ids.get(h) as IdJson
      assert.equal(id.reachability, 'private')
      for (const a of id.addresses) {
        assert.ok(isCircuit(a), `${h} advertises ${a}, which nobody outside its LAN can dial`)
      }
      const relays = new Set(id.addresses.map((a) => a.split('/p2p-circuit')[0].split('/p2p/')[1]))
      // two wanted; libp2p's own relay discovery and ours may race to a third
      assert.ok(relays.size >= 2, `${h} holds two relays: ${id.addresses}`)
      for (const r of relays) assert.ok(reachable.has(r), `${h} holds a relay on ${r}, which nobody can dial`)
    }
    // `nodes` answers with the records found within its few seconds: wait (bounded) until home A
    // finds both relays' records saying they relay — records are re-published once relaying starts
    const relayFlagsOf = async (): Promise<Map<string, boolean>> =>
      new Map(
        (await node('a').json<Array<{ peerId: string; relay: boolean }>>(['nodes', '--json'])).map((r) => [
          r.peerId,
          r.relay,
        ]),
      )
    const relayFlags = await waitFor(
      'home A to find both relays in capacity records',
      async () => {
        const flags = await relayFlagsOf()
        return flags.get(node('p').peerId) === true && flags.get(node('p2').peerId) === true
          ? flags
          : undefined
      },
      60_000,
      1_000,
    )
    const [doctor, pDoctor] = await Promise.all([node('a').cli(['doctor']), node('p').cli(['doctor'])])
    assert.equal(relayFlags.get(node('p').peerId), true, 'P says it relays')
    assert.equal(relayFlags.get(node('p2').peerId), true, 'P2 says it relays')
    assert.equal(relayFlags.get(node('b').peerId) ?? false, false, 'a home does not relay')
    assert.equal(doctor.code, 0, doctor.stderr)
    assert.match(doctor.stdout, /Others cannot dial this node/)
    assert.match(doctor.stdout, /holds 2 relay reservation/)
    assert.match(pDoctor.stdout, /Others can dial this node/)
    assert.match(pDoctor.stdout, /relays for homes behind NAT/)
  })

  it('a home whose router offers UPnP is reachable at the forwarded port, and other homes dial it directly', async () => {
    const u = lab.hosts.get('u') as Home
    const mapped = `/ip4/${u.wanIp}/tcp/${PORT}`
    const id = await idOf('u')
    assert.equal(id.reachability, 'public', 'a peer dialled U back at the port its router forwards')
    assert.deepEqual(
      id.addresses,
      [`${mapped}/p2p/${id.peerId}`],
      'U advertises the mapped address, not its LAN one, and no relay address',
    )
    const doctor = await node('u').cli(['doctor'])
    assert.equal(doctor.code, 0, doctor.stderr)
    assert.match(doctor.stdout, /Others can dial this node/)
    assert.ok(doctor.stdout.includes(`UPnP worked: the router (${u.lan}.1:`), doctor.stdout)
    assert.ok(doctor.stdout.includes(`forwards ${mapped} to this node`), doctor.stdout)
    const report = await node('u').json<{
      upnp: { mapped: string[]; confirmed: boolean }
      relaysHeld: string[]
    }>(['doctor', '--json'])
    assert.deepEqual(report.upnp.mapped, [mapped])
    assert.equal(report.upnp.confirmed, true)
    assert.deepEqual(report.relaysHeld, [], 'a reachable home holds no relay reservation')
    // a second daemon at home C that knows only U's advertised address connects to it directly
    const c = lab.hosts.get('c') as Home
    const probe = new CrashNode(
      'c-probe',
      join(work, 'c-probe'),
      ['--listen', `/ip4/0.0.0.0/tcp/${PORT + 1}`, '--swarm-key', key, '--max-tasks', '0', '--relay', 'off'],
      lab.wrap(c),
    )
    nodes.set('c-probe', probe)
    killed.add('c-probe')
    await probe.init()
    await probe.start([`${mapped}/p2p/${id.peerId}`])
    const toU = await waitFor(
      'the probe at home C to connect to U',
      async () =>
        (await probe.json<PeerJson[]>(['peers', '--json'])).find((p) => p.peerId === id.peerId)?.connections,
      30_000,
      200,
    )
    assert.ok(
      toU.some((conn) => conn.kind === 'direct'),
      `home C reached U only through a relay: ${JSON.stringify(toU)}`,
    )
    await probe.kill()
  })

  it('a job from home A at k=3 with a 2 MiB input completes, and home executors are paid', async (t) => {
    const job = await finish(await submit(), 'to finish')
    await checkOutputs(job, 'out')
    const ids = new Set(job.tasks.map((t) => t.taskId))
    const receipts = await waitFor(
      'the receipts of the job',
      async () => {
        const all = (await node('a').receipts()).filter((x: ReceiptJson) => ids.has(x.taskId))
        return all.filter((x) => x.verdict === 'accepted').length >= 2 * ids.size ? all : undefined
      },
      30_000,
      500,
    )
    checkReceipts(receipts)
    // the submitter reached home executors through a relay
    const peers = await node('a').json<PeerJson[]>(['peers', '--json'])
    const relayed = peers.filter((p) => p.connections?.some((c) => c.kind === 'relayed'))
    assert.ok(
      relayed.some((p) => executors.some((h) => node(h).peerId === p.peerId)),
      `no relayed connection from A to a home executor: ${JSON.stringify(peers)}`,
    )
    // four executors, three of them at home (a majority of 2 needs at least one home per task)
    const homeExecutors = new Set(executors.map((h) => node(h).peerId))
    const paidHomes = new Set<string>()
    for (const id of ids) {
      const paid = receipts.filter((x) => x.taskId === id && x.verdict === 'accepted')
      for (const rc of paid) assert.ok(BigInt(rc.amount) > 0n, 'an accepted execution is paid')
      const fromHomes = paid.filter((rc) => homeExecutors.has(rc.executor))
      assert.ok(fromHomes.length >= 1, `task ${id}: no home executor paid`)
      for (const rc of fromHomes) paidHomes.add(rc.executor)
    }
    // which homes win is the market's choice (reputation, price, latency): every task paying a
    // home executor is the point — on the old code only the public node could run them
    assert.ok(paidHomes.size >= 1, `no home executor earned from home A's job`)
    t.diagnostic(`${paidHomes.size} home executor(s) earned from home A's job`)
  })

  it('an outsider without the swarm key gets no connection, directly or through a relay', async () => {
    const out = lab.hosts.get('out') as Host
    const outsider = new CrashNode(
      'out',
      join(work, 'out-node'),
      ['--listen', `/ip4/${out.ip}/tcp/${PORT}`],
      lab.wrap(out),
    )
    nodes.set('out', outsider)
    await outsider.init()
    // A holds at least two relays: P and another (P2, or U once UPnP made it public)
    const addresses = (await idOf('a')).addresses
    const other = relayNames
      .filter((r) => r !== 'p')
      .find((r) => addresses.some((a) => a.includes(`/p2p/${node(r).peerId}/p2p-circuit`)))
    assert.ok(other != null, `home A holds no relay besides P: ${addresses.join(' ')}`)
    const viaOther = addresses.find((a) => a.includes(`/p2p/${node(other).peerId}/p2p-circuit`)) as string
    const pAddr = `/ip4/${lab.hosts.get('p')?.ip}/tcp/${PORT}/p2p/${node('p').peerId}`
    const refusals = (n: string): number =>
      (
        node(n)
          .proc?.output()
          .match(/inbound handshake failed.*swarm key/g) ?? []
      ).length
    const before = { p: refusals('p'), other: refusals(other) }
    await outsider.start([pAddr, viaOther])
    // P refuses it directly, and A's other relay refuses it on its way to A's relay address
    await waitFor(
      'both relays to refuse the outsider’s handshake',
      async () => (refusals('p') > before.p && refusals(other) > before.other ? true : undefined),
      30_000,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${outsider.proc?.output()}`)
    })
    assert.deepEqual(await outsider.json<PeerJson[]>(['peers', '--json']), [])
    for (const n of ['p', other, 'a']) {
      const peers = await node(n).json<PeerJson[]>(['peers', '--json'])
      assert.ok(!peers.some((p) => p.peerId === outsider.peerId), `${n} is connected to the outsider`)
    }
    killed.add('out')
    await outsider.kill()
  })

  // Executions in flight through P when it dies are not lost: the executor retries its bid,
  // fetch and claim until A is reached through its other relay, and A re-sends an award whose
  // reply died with P (a repeated bid from an awardee gets the same award).
  it('the public relay killed mid-job while a second relay exists: the job still completes', async () => {
    const viaP = `/p2p/${node('p').peerId}/p2p-circuit`
    assert.ok(
      (await idOf('a')).addresses.some((a) => a.includes(viaP)),
      'home A holds a reservation on P (else killing P tests nothing)',
    )
    const jobId = await submit()
    await waitFor(
      `job ${jobId} to have a task awarded`,
      async () =>
        (await node('a').json<JobJson>(['status', jobId, '--json'])).tasks.some((t) => t.status !== 'waiting')
          ? true
          : undefined,
      30_000,
      100,
    )
    killed.add('p')
    await node('p').kill()
    await checkOutputs(await finish(jobId, 'to finish without P'), 'after-kill')
  })
})
