import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Market } from '../../src/market/index.js'
import { dec, enc, example, type Mesh, startMesh } from './helpers.js'

describe('market: resume from the journal', () => {
  let mesh: Mesh
  before(async () => {
    mesh = await startMesh([
      { executor: { enabled: false } },
      ...Array.from({ length: 4 }, () => ({ executor: { maxTasks: 2 } })),
    ])
  })
  after(async () => mesh?.stop())

  it('a restarted submitter re-announces unfinished tasks and completes the job', {
    timeout: 40_000,
  }, async () => {
    const submitter = mesh.nodes[0]
    const inputs = Array.from({ length: 6 }, (_, i) => ({ name: `r${i}`, bytes: enc(`0 ${(i + 1) * 100}`) }))
    const job = await submitter.market.submitJob({
      module: example('primes'),
      inputs,
      replicas: 1,
      memoryMB: 16,
      fuel: 100_000_000,
      deadlineMs: 2_000,
    })
    // "crash": the market goes away with its tasks in flight; the journal stays
    await submitter.market.stop()
    const restarted = new Market(submitter.components, { executor: { enabled: false } })
    submitter.market = restarted
    await restarted.start()
    assert.equal(restarted.listJobs().length, 1)
    assert.equal(restarted.jobStatus(job.jobId).status, 'running', 'the crash left work to resume')
    const final = await restarted.waitForJob(job.jobId, { signal: AbortSignal.timeout(30_000) })
    assert.equal(final.status, 'done', JSON.stringify(final))
    for (const t of job.tasks) {
      const input = inputs.find((i) => i.name === t.input)!
      const local = await submitter.runtime.run({
        module: example('primes'),
        input: input.bytes,
        taskId: new Uint8Array(32),
        limits: { fuel: 100_000_000n, memoryBytes: 16 * 1024 * 1024, maxOutputBytes: 16 * 1024 * 1024 },
      })
      assert.equal(dec(await restarted.result(t.taskId)), dec(local.output))
    }
  })
})
