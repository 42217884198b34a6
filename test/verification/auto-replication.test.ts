/**
 * `replicas: 'auto'` on a live 5-node mesh: an executor earns trust through verified results,
 * then gets tasks alone; a spot check catches its first wrong answer and its trust is reset.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Market, type MarketInit, type TaskSettlement } from '../../src/market/index.js'
import { runTask } from '../../src/runtime/index.js'
import { dec, enc, example, type Mesh, startMesh, waitFor } from '../market/helpers.js'

const module = example('primes')
const FUEL = 50_000_000
const MEMORY_MB = 16
let seq = 0
const input = (): { name: string; bytes: Uint8Array } => {
  seq++
  return { name: `r${seq}`, bytes: enc(`${seq * 1000} ${(seq + 1) * 1000}`) }
}

describe('adaptive replication (replicas: auto)', { timeout: 90_000 }, () => {
  let mesh: Mesh
  /** The spot-check draw the submitter gets: below 0.5 replicates a trusted executor's task. */
  let draw = 0.9
  const settled: TaskSettlement[] = []
  const settledListeners = new Set<() => void>()
  const started: Market[] = []
  const submitterInit: MarketInit = {
    executor: { enabled: false },
    // wait for every bid, so that the best bidder is the same every time
    bidWindowMinMs: 40,
    adaptive: { replicas: 3, trustThreshold: 3, spotCheckProbability: 0.5 },
    random: () => draw,
    onSettled: (s) => {
      settled.push(s)
      for (const l of settledListeners) l()
    },
  }
  let submitter: Market
  let trusted: string

  before(async () => {
    mesh = await startMesh([
      submitterInit,
      // asks nothing, so it ranks first whenever it bids
      { executor: { maxTasks: 8, price: 0 } },
      { executor: { maxTasks: 2, price: 5 } },
      { executor: { maxTasks: 2, price: 5 } },
      { executor: { maxTasks: 2, price: 5 } },
    ])
    submitter = mesh.nodes[0].market
    trusted = mesh.nodes[1].id
  })
  after(async () => {
    for (const m of started) await m.stop()
    await mesh?.stop()
  })

  /** Runs one job; returns, per task, the peers awarded and whether the accepted output is right. */
  async function run(replicas: number | 'auto', tasks: number) {
    const inputs = Array.from({ length: tasks }, input)
    const awards = new Map<string, string[]>()
    const off = submitter.on((e) => {
      if (e.type === 'bid' && e.decision === 'award')
        awards.set(e.taskId, [...(awards.get(e.taskId) ?? []), e.peer])
    })
    try {
      const job = await submitter.submitJob({ module, inputs, replicas, fuel: FUEL, memoryMB: MEMORY_MB })
      const view = await submitter.waitForJob(job.jobId, { signal: AbortSignal.timeout(30_000) })
      assert.equal(view.status, 'done')
      const ids = new Set(job.tasks.map((t) => t.taskId))
      await waitFor(
        () => settled.filter((s) => ids.has(s.taskId)).length === tasks,
        [
          (fn) => {
            settledListeners.add(fn)
            return () => settledListeners.delete(fn)
          },
        ],
        AbortSignal.timeout(30_000),
      )
      const out = []
      for (const t of job.tasks) {
        const local = await runTask({
          module,
          input: inputs.find((i) => i.name === t.input)!.bytes,
          taskId: new Uint8Array(32),
          limits: { fuel: BigInt(FUEL), memoryBytes: MEMORY_MB * 1024 * 1024 },
        })
        out.push({
          taskId: t.taskId,
          awarded: awards.get(t.taskId) ?? [],
          correct: dec(await submitter.result(t.taskId)) === dec(local.output),
          view: submitter.taskStatus(t.taskId),
          verdicts: settled.find((s) => s.taskId === t.taskId)!.executors,
        })
      }
      return out
    } finally {
      off()
    }
  }

  it('gives a trusted executor single-replica tasks, and its trust survives a restart', async () => {
    // first contact is one task: an executor keeps one bid in flight to a submitter that has never
    // answered it (executor.ts, against bid stalls), so on a first job of 4 it could miss the
    // other tasks' bid windows and not be awarded them
    const earned = [...(await run(3, 1)), ...(await run(3, 3))]
    assert.ok(earned.every((t) => t.correct && t.awarded.includes(trusted)))
    assert.deepEqual(submitter.replicationTrust(trusted), { run: 4, trusted: true })

    draw = 0.9
    const alone = await run('auto', 4)
    for (const t of alone) {
      assert.deepEqual(t.awarded, [trusted], 'one award, to the trusted executor')
      assert.ok(t.correct)
      assert.equal(t.view.replicas, 1)
      assert.equal(t.view.auto, true)
    }
    // a single-replica result verifies nothing: the run stays where it was
    assert.deepEqual(submitter.replicationTrust(trusted), { run: 4, trusted: true })

    // the run is journaled: a restarted submitter still trusts the executor
    await submitter.stop()
    submitter = new Market(mesh.nodes[0].components, submitterInit)
    started.push(submitter)
    await submitter.start()
    assert.deepEqual(submitter.replicationTrust(trusted), { run: 4, trusted: true })
  })

  it('resets trust on one wrong answer caught by a spot check', async () => {
    // the trusted executor starts lying on every task
    const liarNode = mesh.nodes[1]
    await liarNode.market.stop()
    const liar = new Market(liarNode.components, {
      executor: { maxTasks: 8, price: 0, fault: 'wrong-output' },
    })
    started.push(liar)
    await liar.start()

    draw = 0 // the next task is spot-checked
    const [checked] = await run('auto', 1)
    assert.equal(checked.awarded.length, 3, 'a spot check runs replicated')
    assert.ok(checked.awarded.includes(trusted))
    assert.ok(checked.correct, 'the lie is outvoted')
    assert.equal(checked.verdicts.find((v) => v.peer === trusted)?.verdict, 'rejected')
    assert.deepEqual(submitter.replicationTrust(trusted), { run: 0, trusted: false })

    draw = 0.9 // no spot check drawn, but the executor is no longer trusted: replicated anyway
    for (const t of await run('auto', 2)) {
      assert.equal(t.awarded.length, 3)
      assert.equal(t.view.replicas, 3)
      assert.ok(t.correct)
    }
  })

  it('cancels an auto task before its plan is made', async () => {
    const job = await submitter.submitJob({ module, inputs: [input()], replicas: 'auto', fuel: FUEL })
    const [task] = job.tasks
    const ended = new Promise<string>((resolve) => {
      const off = submitter.on((e) => {
        if (e.type !== 'task' || e.taskId !== task.taskId || e.status === 'running') return
        off()
        resolve(e.status)
      })
    })
    // no bid window has closed yet: the task has no quorum until the cancel plans one
    await submitter.cancel(job.jobId)
    assert.equal(await ended, 'cancelled')
    assert.equal(submitter.taskStatus(task.taskId).status, 'cancelled')
  })
})
