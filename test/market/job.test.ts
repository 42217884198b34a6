import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { decodeSpec } from '../../src/market/index.js'
import { type Mesh, dec, enc, example, startMesh } from './helpers.js'

const TEST_TIMEOUT_MS = 45_000

describe('market: a job on a 6-node mesh', () => {
  let mesh: Mesh
  before(async () => {
    mesh = await startMesh([
      { executor: { enabled: false } },
      ...Array.from({ length: 5 }, () => ({ executor: { maxTasks: 3, memoryMB: 256 } })),
    ])
  })
  after(async () => mesh?.stop())

  it('runs 50 primes tasks at k=3 and returns the outputs a local run computes', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const submitter = mesh.nodes[0]
    const module = example('primes')
    const inputs = Array.from({ length: 50 }, (_, i) => ({
      name: `range-${i}.txt`,
      bytes: enc(`${i * 1000} ${(i + 1) * 1000}`),
    }))
    const job = await submitter.market.submitJob({
      module,
      inputs,
      replicas: 3,
      fuel: 100_000_000,
      memoryMB: 16,
      maxOutputBytes: 4096,
      deadlineMs: 20_000,
    })
    assert.equal(job.tasks.length, 50)
    const final = await submitter.market.waitForJob(job.jobId, {
      signal: AbortSignal.timeout(TEST_TIMEOUT_MS - 5_000),
    })
    assert.equal(final.status, 'done', JSON.stringify(final))
    for (const t of job.tasks) {
      const output = await submitter.market.result(t.taskId)
      const input = inputs.find((i) => i.name === t.input)!
      const local = await submitter.runtime.run({
        module,
        input: input.bytes,
        taskId: new Uint8Array(32),
        limits: { fuel: 100_000_000n, memoryBytes: 16 * 1024 * 1024, maxOutputBytes: 4096 },
      })
      assert.equal(local.status, 'ok')
      assert.equal(dec(output), dec(local.output), `output of ${t.input}`)
      const view = submitter.market.taskStatus(t.taskId)
      assert.equal(view.status, 'done')
      assert.equal(view.outputHash, Buffer.from(local.outputHash).toString('hex'))
    }
    const executed = mesh.nodes.slice(1).reduce((n, m) => n + m.market.stats().executed, 0)
    assert.ok(executed >= 100, `at least 2 executions per task, got ${executed}`)
    assert.equal(submitter.market.stats().executed, 0, 'the submitter did not execute its own tasks')
    assert.equal(submitter.market.listJobs().length, 1)
    assert.equal(submitter.market.listTasks().length, 50)
  })

  it('journals every task spec it announced', async () => {
    const { market } = mesh.nodes[0]
    for (const t of market.listTasks()) assert.equal(t.replicas, 3)
    const specBytes = await mesh.nodes[0].store.sublevel('market').get(`task:${market.listTasks()[0].taskId}`)
    assert.ok(specBytes != null)
    const record = JSON.parse(new TextDecoder().decode(specBytes)) as { spec: string }
    assert.equal(decodeSpec(Buffer.from(record.spec, 'base64')).replicas, 3)
  })
})
