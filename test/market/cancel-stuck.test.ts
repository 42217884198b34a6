import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { MarketEvent } from '../../src/market/index.js'
import { type Mesh, enc, example, nextEvent, startMesh } from './helpers.js'

describe('market: cancel', () => {
  let mesh: Mesh
  before(async () => {
    mesh = await startMesh([{ executor: { enabled: false } }, { executor: { maxTasks: 1 } }])
  })
  after(async () => mesh?.stop())

  it('stops the work: the executor drops a running task and is free for the next', {
    timeout: 30_000,
  }, async () => {
    const [submitter, executor] = mesh.nodes
    const awarded = nextEvent(
      submitter.market,
      (e) => e.type === 'bid' && e.decision === 'award',
      AbortSignal.timeout(10_000),
    )
    const job = await submitter.market.submitJob({
      module: example('wat/infinite_loop'),
      inputs: [{ name: 'forever', bytes: enc('') }],
      replicas: 1,
      fuel: 2 ** 50,
      memoryMB: 1,
      deadlineMs: 60_000,
    })
    await awarded
    const dropped = nextEvent(executor.market, (e) => e.type === 'dropped', AbortSignal.timeout(10_000))
    await submitter.market.cancel(job.jobId)
    assert.deepEqual(await dropped, {
      type: 'dropped',
      taskId: job.tasks[0].taskId,
      reason: 'cancelled by the submitter',
    })
    assert.equal(submitter.market.jobStatus(job.jobId).status, 'cancelled')
    assert.equal(executor.market.stats().executed, 0)
    assert.equal(executor.market.stats().claimsSent, 0)

    const next = await submitter.market.submitJob({
      module: example('primes'),
      inputs: [{ name: 'small', bytes: enc('0 100') }],
      replicas: 1,
      memoryMB: 16,
    })
    const done = await submitter.market.waitForJob(next.jobId, { signal: AbortSignal.timeout(20_000) })
    assert.equal(done.status, 'done')
    assert.equal(executor.market.stats().executed, 1)
  })
})

describe('market: a task nobody can run', () => {
  let mesh: Mesh
  before(async () => {
    mesh = await startMesh([
      { executor: { enabled: false }, stuckAfterMs: 100, giveUpAfterMs: 1_000 },
      { executor: { maxTasks: 2, memoryMB: 256 } },
      { executor: { maxTasks: 2, memoryMB: 256 } },
    ])
  })
  after(async () => mesh?.stop())

  it('explains why it waits, then fails with that reason', { timeout: 30_000 }, async () => {
    const { market } = mesh.nodes[0]
    const stuck = nextEvent(market, (e) => e.type === 'stuck', AbortSignal.timeout(10_000))
    const job = await market.submitJob({
      module: example('primes'),
      inputs: [{ name: 'big', bytes: enc('0 100') }],
      replicas: 3,
      memoryMB: 1024,
    })
    const event = (await stuck) as Extract<MarketEvent, { type: 'stuck' }>
    assert.match(event.waiting, /^no bids for [\d.]+ s: 0 of 2 known nodes offer 1 GiB of memory$/)
    const waiting = market.jobStatus(job.jobId).waiting
    assert.match(waiting ?? '', /0 of 2 known nodes offer 1 GiB of memory/)
    const final = await market.waitForJob(job.jobId, { signal: AbortSignal.timeout(10_000) })
    assert.equal(final.status, 'failed')
    const task = market.taskStatus(job.tasks[0].taskId)
    assert.equal(task.status, 'failed')
    assert.match(
      task.reason ?? '',
      /^no executor bid within [\d.]+ s: 0 of 2 known nodes offer 1 GiB of memory$/,
    )
  })

  it('says how many bids it has against the replicas asked', { timeout: 30_000 }, async () => {
    const { market } = mesh.nodes[0]
    let awards = 0
    const twoAwards = nextEvent(
      market,
      (e) => e.type === 'bid' && e.decision === 'award' && ++awards === 2,
      AbortSignal.timeout(10_000),
    )
    const job = await market.submitJob({
      module: example('wat/infinite_loop'),
      inputs: [{ name: 'five', bytes: enc('') }],
      replicas: 5,
      fuel: 2 ** 50,
      memoryMB: 1,
      deadlineMs: 60_000,
    })
    await twoAwards
    assert.equal(market.jobStatus(job.jobId).waiting, '2 bids, 5 replicas asked')
    await market.cancel(job.jobId)
  })
})
