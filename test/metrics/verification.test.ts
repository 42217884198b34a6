/**
 * plusone_ metrics of in-process daemons (no libp2p metrics: one registry per daemon) while a
 * faulty executor is outvoted: the submitter counts a disagreement per task, every executor
 * counts what it ran and the fuel it burned.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { enc, example } from '../market/helpers.js'
import { createMesh, eventually, type Mesh } from '../mesh.js'

const TASKS = 3

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line == null ? 0 : Number(line.slice(series.length + 1))
}

describe('metrics: a wrong-output executor on a mesh of daemons', () => {
  let mesh: Mesh

  before(async () => {
    // node 0 submits; with 3 executors and 3 replicas, the liar (node 1) runs every task
    mesh = await createMesh(4, { faults: [undefined, 'wrong-output', undefined, undefined] })
  })
  after(async () => mesh?.stop())

  it('counts a verification disagreement for each task the liar was outvoted on', {
    timeout: 60_000,
  }, async () => {
    const [submitter, ...executors] = mesh.daemons
    await eventually('capacity records of the executors', async () =>
      (await submitter.capacity.findAll({ signal: AbortSignal.timeout(5_000) })).length >= 4
        ? true
        : undefined,
    )
    const job = await submitter.market.submitJob({
      module: example('primes'),
      inputs: Array.from({ length: TASKS }, (_, i) => ({ name: `r${i}`, bytes: enc(`0 ${(i + 1) * 1000}`) })),
      replicas: 3,
      memoryMB: 16,
      fuel: 100_000_000,
    })
    const final = await submitter.market.waitForJob(job.jobId, { signal: AbortSignal.timeout(45_000) })
    assert.equal(final.status, 'done')

    const text = await eventually('every task settled', async () => {
      const { body } = await submitter.metrics.text()
      return sample(body, 'plusone_verdicts_total{verdict="rejected"}') >= TASKS ? body : undefined
    })
    assert.equal(sample(text, 'plusone_verification_disagreements_total'), TASKS)
    assert.equal(sample(text, 'plusone_verdicts_total{verdict="accepted"}'), 2 * TASKS)
    assert.equal(sample(text, 'plusone_tasks_total{outcome="done"}'), TASKS)
    assert.equal(sample(text, 'plusone_jobs_total{outcome="done"}'), 1)
    assert.equal(sample(text, 'plusone_queue_depth'), 0)
    assert.doesNotMatch(text, /^libp2p_/m, 'libp2p metrics are off for in-process daemons')

    const perExecutor = await Promise.all(executors.map(async (d) => (await d.metrics.text()).body))
    for (const body of perExecutor) {
      assert.equal(sample(body, 'plusone_executions_total{status="ok"}'), TASKS)
      assert.ok(sample(body, 'plusone_execution_fuel_total') > 0)
    }
    // every executor burned the same fuel: the sandbox is deterministic, the liar only lies after
    const fuel = perExecutor.map((b) => sample(b, 'plusone_execution_fuel_total'))
    assert.deepEqual(new Set(fuel).size, 1)
  })
})
