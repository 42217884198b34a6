/**
 * Attack 1 of issue 11: an executor bills any fuel it likes. A `--fault inflate-fuel` executor
 * claims 9e15 fuel on a prime-counting task of a few hundred thousand fuel; on main the submitter
 * signed a receipt for 9,000,000 credits and every node then saw the honest submitter far over its
 * credit limit, so its next job got no bids. Now the claim is invalid (above the spec's fuel), the
 * task is reissued to the honest executor, and what anyone is paid is bounded by what the
 * submitter offered.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { TASKS_TOPIC } from '../../src/market/index.js'
import { RECEIPTS_TOPIC } from '../../src/ledger/index.js'
import { enc, example } from '../market/helpers.js'
import { createMesh, eventually, fullyConnect, type Mesh } from '../mesh.js'
import { credits, idOf, offered, receiptsOf } from './helpers.js'

const FUEL = 50_000_000
/** 2 credits per Gfuel, in micro-credits. */
const MAX_PRICE = 2_000_000

describe('hostile: an executor that inflates its fuel', () => {
  let mesh: Mesh
  before(async () => {
    mesh = await createMesh(1, { config: { maxTasks: 0 }, market: { bidWindowMaxMs: 50 } })
    // the liar asks less, so it wins every single-replica award first
    await mesh.add({ config: { price: 1, maxTasks: 1 }, faults: [undefined, 'inflate-fuel'] })
    await mesh.add({ config: { price: 2, maxTasks: 1 } })
    await fullyConnect(mesh.daemons, [TASKS_TOPIC, RECEIPTS_TOPIC])
  })
  after(async () => mesh?.stop())

  it('pays nothing extra: the inflated claim is refused and the honest executor is paid its fuel', async (t) => {
    const [submitter, liar, honest] = mesh.daemons
    const runJob = async (span: string): Promise<void> => {
      const job = await submitter.market.submitJob({
        module: example('primes'),
        inputs: [{ name: span, bytes: enc(span) }],
        replicas: 1,
        fuel: FUEL,
        memoryMB: 16,
        deadlineMs: 2_000,
        maxPrice: MAX_PRICE,
      })
      const view = await submitter.market.waitForJob(job.jobId, { signal: AbortSignal.timeout(30_000) })
      assert.equal(view.status, 'done', `job ${span} ${view.status}: ${view.waiting ?? ''}`)
    }
    await runJob('0 3000')
    const receipts = await eventually('the accepted receipt', async () => {
      const all = await receiptsOf(submitter)
      return all.some((r) => r.info.verdict === 'accepted') ? all : undefined
    })
    let most = 0n // amounts are bigints: Math.max does not take them
    for (const r of receipts) if (r.info.amount > most) most = r.info.amount
    t.diagnostic(
      `largest receipt: ${credits(most)} credits (offered at most ${credits(offered(FUEL, MAX_PRICE))})`,
    )
    assert.ok(most <= offered(FUEL, MAX_PRICE), 'no receipt pays more than the task offered')
    for (const r of receipts) {
      assert.ok(r.info.fuelUsed <= BigInt(FUEL), 'no receipt names more fuel than the limit')
      if (r.info.executor === idOf(liar)) assert.equal(r.info.amount, 0n, 'the liar is paid nothing')
      if (r.info.verdict === 'accepted') assert.equal(r.info.executor, idOf(honest))
    }
    // the submitter's debt is what the honest work cost, so its next job still gets bids
    const debt = -submitter.ledger.account(idOf(submitter)).balance
    t.diagnostic(`submitter's debt after the task: ${credits(debt)} credits`)
    assert.ok(debt <= offered(FUEL, MAX_PRICE))
    await runJob('3000 6000')
  })
})
