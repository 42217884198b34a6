import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cli } from '../cli/helpers.js'
import {
  api,
  assertBalances,
  CrashNode,
  checkReceipts,
  EXAMPLES,
  type JobJson,
  type LedgerJson,
  localOutputs,
  waitFor,
  writeShaInput,
} from './helpers.js'

const SHA = join(EXAMPLES, 'sha256.wasm')
/** About a second of hashing (`plusone run` timing on 2 cores): long enough to be killed mid-run. */
const ITERATIONS = 3_000_000

interface Stats {
  awardsWon: number
  claimsSent: number
  executed: number
}

describe('kill -9 of an executor mid-task', () => {
  let work: string
  let submitter: CrashNode
  const executors: CrashNode[] = []
  let expected: Buffer

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'plusone-crash-executor-'))
    const input = join(work, 'long.bin')
    await writeShaInput(input, ITERATIONS, 'a long task')
    expected = (await localOutputs(SHA, new Map([['long.bin', input]]), work)).get('long.bin') as Buffer
    const key = join(work, 'swarm.key')
    await writeFile(key, (await cli(['swarm-key'])).stdout, { mode: 0o600 })
    const common = ['--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key]
    for (let i = 0; i < 4; i++) {
      executors.push(
        new CrashNode(`e${i}`, join(work, `e${i}`), [
          ...common,
          '--cpus',
          '1',
          '--max-tasks',
          '1',
          '--credit-limit',
          '1000000',
        ]),
      )
    }
    submitter = new CrashNode('submitter', join(work, 's'), [...common, '--max-tasks', '0'])
    await Promise.all([submitter, ...executors].map((n) => n.init()))
    for (const [i, e] of executors.entries()) await e.start(i === 0 ? [] : [executors[0].address])
    await submitter.start(executors.map((e) => e.address))
    await waitFor('the submitter to know all 4 executors', async () => {
      const nodes = await api<unknown[]>(submitter.dataDir, '/nodes')
      return nodes.length >= 5 ? true : undefined
    })
  })

  after(async () => {
    await Promise.all([submitter, ...executors].map((n) => n?.kill()))
    await rm(work, { recursive: true, force: true })
  })

  it('the submitter reissues after the deadline, the job completes, and the killed executor is never credited', async () => {
    const r = await submitter.cli([
      'submit',
      SHA,
      '--input',
      join(work, 'long.bin'),
      '--replicas',
      '2',
      // a few times the task's run time: on 2 busy cores an honest executor must still make it
      '--deadline',
      '5s',
      '--fuel',
      '100G',
    ])
    assert.equal(r.code, 0, r.stderr)
    const jobId = r.stdout.trim()

    // the moment: an executor holds an award it has not finished
    const victim = await waitFor(
      'an executor running the task',
      async () => {
        for (const e of executors) {
          const s = await api<Stats>(e.dataDir, '/stats')
          if (s.awardsWon > s.executed && s.claimsSent === 0) return e
        }
        return undefined
      },
      30_000,
      25,
    )
    await victim.kill()
    await victim.start(executors.filter((e) => e !== victim).map((e) => e.address))

    const job = await waitFor(
      'the job to finish',
      async () => {
        const s = await api<JobJson>(submitter.dataDir, `/jobs/${jobId}`)
        return s.status === 'running' ? undefined : s
      },
      60_000,
      250,
    ).catch(async (err: Error) => {
      // say what the task waits for
      const s = await api<JobJson>(submitter.dataDir, `/jobs/${jobId}`)
      const task = await api<unknown>(submitter.dataDir, `/tasks/${s.tasks[0].taskId}`)
      const stats = await Promise.all(
        executors.map(async (e) => `${e.name}: ${JSON.stringify(await api(e.dataDir, '/stats'))}`),
      )
      throw new Error(`${err.message}\nvictim ${victim.name}\n${JSON.stringify(task)}\n${stats.join('\n')}`)
    })
    if (job.status !== 'done') {
      // say why: the task's reason, and what each executor did
      const task = await api<unknown>(submitter.dataDir, `/tasks/${job.tasks[0].taskId}`)
      const stats = await Promise.all(
        executors.map(async (e) => `${e.name}: ${JSON.stringify(await api(e.dataDir, '/stats'))}`),
      )
      assert.fail(`job ${job.status}; victim ${victim.name}\n${JSON.stringify(task)}\n${stats.join('\n')}`)
    }
    const taskId = job.tasks[0].taskId
    const out = await api<Uint8Array>(submitter.dataDir, `/tasks/${taskId}/result`)
    assert.deepEqual(Buffer.from(out), expected)

    // the victim's award ends as timed out once its deadline passes; it is never accepted
    const receipts = await waitFor(
      "a receipt for the killed executor's award",
      async () => {
        const all = await submitter.receipts()
        return all.some((x) => x.executor === victim.peerId) ? all : undefined
      },
      30_000,
      250,
    )
    const forVictim = receipts.filter((x) => x.taskId === taskId && x.executor === victim.peerId)
    assert.equal(forVictim.length, 1)
    assert.equal(forVictim[0].verdict, 'timed_out')
    assert.equal(forVictim[0].amount, '0')
    assert.equal(receipts.filter((x) => x.verdict === 'accepted').length, 2)

    // the restarted executor sent no claim for the task it never finished
    const after = await api<Stats>(victim.dataDir, '/stats')
    assert.equal(after.claimsSent, 0)

    const sums = checkReceipts(receipts)
    assert.equal(sums.get(victim.peerId) ?? 0n, 0n)
    assertBalances(await submitter.json<LedgerJson>(['ledger', '--json']), sums)
    const mine = await submitter.json<{ status: string }>(['status', taskId, '--json'])
    assert.equal(mine.status, 'done')
  })
})
