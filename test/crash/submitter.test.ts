import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
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
  MICRO,
  type ReceiptJson,
  waitFor,
  writeShaInput,
} from './helpers.js'

const SHA = join(EXAMPLES, 'sha256.wasm')
const REPLICAS = 2
const TASKS = 8
/** Every executor asks the default price: 1 credit per Gfuel. */
const ASK = MICRO

describe('kill -9 of a submitter', () => {
  let work: string
  let submitter: CrashNode
  const executors: CrashNode[] = []
  const inputs = new Map<string, string>()
  let expected: Map<string, Buffer>
  const jobs: string[] = []
  /** Tasks seen done just before a kill, and which kill. */
  const crashedAt = new Map<string, string>()

  const status = (id: string): Promise<JobJson> => api<JobJson>(submitter.dataDir, `/jobs/${id}`)
  const submit = async (): Promise<string> => {
    const r = await submitter.cli([
      'submit',
      SHA,
      '--inputs',
      join(work, 'in'),
      '--replicas',
      String(REPLICAS),
      '--deadline',
      '5s',
      '--fuel',
      '100G',
    ])
    assert.equal(r.code, 0, r.stderr)
    const id = r.stdout.trim()
    jobs.push(id)
    return id
  }
  const restart = async (): Promise<void> => {
    await submitter.start(executors.map((e) => e.address))
  }
  const waitDone = async (id: string): Promise<JobJson> =>
    waitFor(
      `job ${id} done`,
      async () => {
        const s = await status(id)
        if (s.status !== 'running' && s.status !== 'done') {
          const why = await Promise.all(
            s.tasks.map(
              async (t) => (await api<{ reason?: string }>(submitter.dataDir, `/tasks/${t.taskId}`)).reason,
            ),
          )
          assert.fail(`job ${id} is ${s.status}: ${why.filter((w) => w != null).join('; ')}`)
        }
        return s.status === 'done' ? s : undefined
      },
      60_000,
      250,
    ).catch(async (err: Error) => {
      // say what the unfinished tasks wait for
      const s = await status(id)
      const open = s.tasks.filter((t) => t.status !== 'done')
      const views = await Promise.all(
        open.map(async (t) => JSON.stringify(await api(submitter.dataDir, `/tasks/${t.taskId}`))),
      )
      throw new Error(`${err.message}\n${views.join('\n')}`)
    })

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'plusone-crash-submitter-'))
    await mkdir(join(work, 'in'))
    for (let i = 0; i < TASKS; i++) {
      const path = join(work, 'in', `t${i}.bin`)
      await writeShaInput(path, 300_000, `input ${i}`)
      inputs.set(`t${i}.bin`, path)
    }
    const key = join(work, 'swarm.key')
    await writeFile(key, (await cli(['swarm-key'])).stdout, { mode: 0o600 })
    const common = ['--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key]
    for (let i = 0; i < 5; i++) {
      executors.push(
        new CrashNode(`e${i}`, join(work, `e${i}`), [
          ...common,
          '--cpus',
          '1',
          '--max-tasks',
          '1',
          // the jobs cost the submitter more than the default 100 credits of debt
          '--credit-limit',
          '1000000',
        ]),
      )
    }
    submitter = new CrashNode('submitter', join(work, 's'), [...common, '--max-tasks', '0'])
    await Promise.all([submitter, ...executors].map((n) => n.init()))
    for (const [i, e] of executors.entries()) await e.start(i === 0 ? [] : [executors[0].address])
    await restart()
    await waitFor('the submitter to know all 5 executors', async () => {
      const nodes = await api<unknown[]>(submitter.dataDir, '/nodes')
      return nodes.length >= 6 ? true : undefined
    })
    expected = await localOutputs(SHA, inputs, work)
  })

  after(async () => {
    await Promise.all([submitter, ...executors].map((n) => n?.kill()))
    await rm(work, { recursive: true, force: true })
  })

  it('resumes a job killed right after submit returned', async () => {
    const id = await submit()
    await submitter.kill()
    await restart()
    await waitDone(id)
  })

  it('resumes a job killed mid-run and again right after restarting, losing no accepted result', async () => {
    const id = await submit()
    const before = await waitFor(
      'some tasks done, not all',
      async () => {
        const s = await status(id)
        const done = s.tasks.filter((t) => t.status === 'done').length
        return done >= 1 && done < TASKS ? s : undefined
      },
      60_000,
      50,
    )
    for (const t of before.tasks) if (t.status === 'done') crashedAt.set(t.taskId, 'before the mid-run kill')
    await submitter.kill()
    await restart()
    // a second crash while it resumes, if the job is still running by then
    if ((await status(id)).status === 'running') {
      await submitter.kill()
      await restart()
    }
    const done = await waitDone(id)
    for (const t of before.tasks.filter((t) => t.status === 'done')) {
      const now = done.tasks.find((x) => x.taskId === t.taskId)
      assert.equal(now?.outputHash, t.outputHash, `task ${t.taskId} was done before the crash`)
    }
  })

  it('after the crashes every output is correct and every executor is paid exactly once, at its bid', async () => {
    const cliStatus = await Promise.all(
      jobs.map(async (id) => {
        const r = await submitter.cli(['status', id, '--json'])
        assert.equal(r.code, 0, r.stderr)
        return JSON.parse(r.stdout) as JobJson
      }),
    )
    const taskIds = new Set<string>()
    const settleBy = Date.now() + 20_000
    for (const job of cliStatus) {
      assert.equal(job.status, 'done')
      assert.equal(job.tasks.length, TASKS)
      for (const t of job.tasks) {
        taskIds.add(t.taskId)
        const out = await api<Uint8Array>(submitter.dataDir, `/tasks/${t.taskId}/result`)
        assert.deepEqual(Buffer.from(out), expected.get(t.input), `output of ${t.input}`)
      }
    }

    // settlement follows acceptance: wait (bounded) until every task has its k accepted receipts
    const missing = (all: ReceiptJson[]): string[] =>
      [...taskIds].filter(
        (id) => all.filter((r) => r.taskId === id && r.verdict === 'accepted').length < REPLICAS,
      )
    const receipts = await waitFor(
      'k accepted receipts for every task',
      async () => {
        const all = await submitter.receipts()
        return missing(all).length === 0 || Date.now() > settleBy ? all : undefined
      },
      60_000,
      250,
    )
    const lost = missing(receipts).map((id) => {
      const when = crashedAt.get(id) ?? 'after the crashes'
      const got = receipts.filter((r) => r.taskId === id).map((r) => r.verdict)
      return `${id} (done ${when}; receipts: ${got.join(', ') || 'none'})`
    })
    const said = (submitter.proc?.output() ?? '').split('\n').filter((l) => /settl/.test(l))
    assert.deepEqual(
      lost,
      [],
      `accepted tasks without their ${REPLICAS} accepted receipts\n${said.join('\n')}`,
    )
    for (const id of taskIds) {
      const mine = receipts.filter((r) => r.taskId === id)
      assert.equal(mine.filter((r) => r.verdict === 'accepted').length, REPLICAS, `task ${id}`)
      for (const r of mine) {
        assert.equal(r.submitter, submitter.peerId)
        assert.equal(
          BigInt(r.pricePerGfuel),
          ASK,
          `task ${id}: ${r.executor} paid ${r.pricePerGfuel} per Gfuel`,
        )
      }
    }
    const sums = checkReceipts(receipts)
    assertBalances(await submitter.json<LedgerJson>(['ledger', '--json']), sums)

    // every executor heard the receipts naming it, and its ledger agrees
    for (const e of executors) {
      const own = receipts.filter((r) => r.executor === e.peerId).map((r) => r.id)
      const theirs = await waitFor(
        `${e.name} to hold its receipts`,
        async () => {
          const got = await e.receipts()
          const ids = new Set(got.map((r) => r.id))
          return own.every((x) => ids.has(x)) ? got : undefined
        },
        30_000,
        500,
      )
      checkReceipts(theirs)
      const byId = new Map(receipts.map((r) => [r.id, r]))
      for (const r of theirs.filter((x: ReceiptJson) => byId.has(x.id))) {
        assert.equal(r.signed, byId.get(r.id)?.signed, `receipt ${r.id} differs between nodes`)
      }
    }
  })
})
