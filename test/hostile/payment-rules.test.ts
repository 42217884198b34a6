/** The payment rules (spec.ts), case by case: what a claim may say and what a receipt may pay. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { agreedFuelOf, type Claim, checkClaimAgainstSpec, payableTerms } from '../../src/market/index.js'

const spec = { fuel: 1_000_000, maxPrice: 5_000, maxOutputBytes: 1024 }
const claim = (over: Partial<Claim>): Claim => ({ fuelUsed: 10, outputBytes: 1, ...over }) as Claim

describe('payment rules', () => {
  it('refuses a claim with more fuel or output than the spec allows, names the limit', () => {
    assert.throws(() => checkClaimAgainstSpec(claim({ fuelUsed: 9e15 }), spec as never), {
      name: 'InvalidClaimError',
      message: /claimed fuel 9000000000000000 is above the task's limit of 1000000/,
    })
    assert.throws(() => checkClaimAgainstSpec(claim({ outputBytes: 1025 }), spec as never), {
      name: 'InvalidClaimError',
    })
    checkClaimAgainstSpec(claim({ fuelUsed: 1_000_000, outputBytes: 1024 }), spec as never)
  })

  it('pays min(agreed fuel, fuel limit) at min(bid, max price)', () => {
    assert.deepEqual(payableTerms(spec, 400, 100), { fuelUsed: 400, price: 100 })
    assert.deepEqual(payableTerms(spec, 9e15, 100), { fuelUsed: 1_000_000, price: 100 })
    assert.deepEqual(payableTerms(spec, 400, 9e15), { fuelUsed: 400, price: 5_000 })
    assert.deepEqual(payableTerms(spec, -1, Number.NaN), { fuelUsed: 0, price: 0 })
  })

  it('takes the quorum’s fuel only when the agreeing claims agree on it', () => {
    assert.equal(agreedFuelOf([{ fuelUsed: 7 }, { fuelUsed: 7 }]), 7)
    assert.equal(agreedFuelOf([{ fuelUsed: 7 }, { fuelUsed: 9 }]), 0)
    assert.equal(agreedFuelOf([]), 0)
  })
})
