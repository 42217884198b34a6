import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { ExecutorVerdict } from '../../src/verification/index.js'
import { type Mesh, dec, enc, example, startMesh, waitFor } from './helpers.js'

const TASKS = 6

describe('market: a wrong-output executor', () => {
  let mesh: Mesh
  const settled = new Map<string, readonly ExecutorVerdict[]>()
  const onSettledListeners = new Set<() => void>()
  before(async () => {
    mesh = await startMesh([
      {
        executor: { enabled: false },
        onSettled: ({ taskId, executors }) => {
          settled.set(
            taskId,
            executors.map((e) => ({ peer: e.peer, verdict: e.verdict })),
          )
          for (const l of onSettledListeners) l()
        },
      },
      // the liar asks nothing, so it ranks first and is awarded whenever it bids
      { executor: { maxTasks: TASKS, price: 0, fault: 'wrong-output' } },
      { executor: { maxTasks: 2, price: 5 } },
      { executor: { maxTasks: 2, price: 5 } },
      { executor: { maxTasks: 2, price: 5 } },
    ])
  })
  after(async () => mesh?.stop())

  it('is outvoted at k=3: every accepted output is the honest one', { timeout: 40_000 }, async () => {
    const [submitter, liar] = mesh.nodes
    const module = example('primes')
    const inputs = Array.from({ length: TASKS }, (_, i) => ({
      name: `r${i}`,
      bytes: enc(`0 ${(i + 1) * 500}`),
    }))
    const job = await submitter.market.submitJob({
      module,
      inputs,
      replicas: 3,
      memoryMB: 16,
      fuel: 100_000_000,
      maxPrice: 10,
    })
    const final = await submitter.market.waitForJob(job.jobId, { signal: AbortSignal.timeout(30_000) })
    assert.equal(final.status, 'done')
    for (const t of job.tasks) {
      const input = inputs.find((i) => i.name === t.input)!
      const local = await submitter.runtime.run({
        module,
        input: input.bytes,
        taskId: new Uint8Array(32),
        limits: { fuel: 100_000_000n, memoryBytes: 16 * 1024 * 1024, maxOutputBytes: 16 * 1024 * 1024 },
      })
      assert.equal(dec(await submitter.market.result(t.taskId)), dec(local.output))
    }
    await waitFor(
      () => settled.size === TASKS,
      [
        (fn) => {
          onSettledListeners.add(fn)
          return () => onSettledListeners.delete(fn)
        },
      ],
      AbortSignal.timeout(20_000),
    )
    const liarVerdicts = [...settled.values()].flatMap((vs) => vs.filter((v) => v.peer === liar.id))
    assert.ok(liarVerdicts.length > 0, 'the liar took part')
    assert.ok(
      liarVerdicts.every((v) => v.verdict === 'rejected'),
      JSON.stringify(liarVerdicts),
    )
    assert.ok(liar.market.stats().executed > 0)
  })
})
