import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decodeOutcome,
  encodeOutcome,
  type Outcome,
  OUTCOME_ENCODED_BYTES,
  type OutcomeStatus,
  outcomeHash,
} from '../../src/runtime/index.js'
import { hex } from './helpers.js'

const STATUSES: OutcomeStatus[] = [
  'ok',
  'error',
  'trap',
  'out_of_fuel',
  'out_of_memory',
  'output_too_large',
  'invalid_module',
]

const outcomeArb = fc.record({
  status: fc.constantFrom(...STATUSES),
  code: fc.option(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { nil: undefined }),
  fuelUsed: fc.bigInt({ min: 0n, max: 2n ** 62n }),
  outputHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
})

describe('outcome encoding', () => {
  it('round-trips every canonical outcome', () => {
    fc.assert(
      fc.property(outcomeArb, (o) => {
        const bytes = encodeOutcome(o)
        assert.equal(bytes.length, OUTCOME_ENCODED_BYTES)
        const back = decodeOutcome(bytes)
        assert.equal(back.status, o.status)
        assert.equal(back.code, o.code)
        assert.equal(back.fuelUsed, o.fuelUsed)
        assert.equal(hex(back.outputHash), hex(o.outputHash))
        assert.equal(hex(encodeOutcome(back)), hex(bytes))
      }),
      { numRuns: 200, seed: 7 },
    )
  })

  it('hashes equal for outcomes that differ only in machine-dependent text', () => {
    const base: Outcome = {
      status: 'trap',
      message: 'divide by zero',
      fuelUsed: 12n,
      output: new Uint8Array(0),
      outputHash: new Uint8Array(32).fill(3),
    }
    const other = { ...base, message: 'RuntimeError: integer divide by zero (arm64)' }
    assert.equal(hex(outcomeHash(base)), hex(outcomeHash(other)))
    assert.notEqual(hex(outcomeHash(base)), hex(outcomeHash({ ...base, fuelUsed: 13n })))
    assert.notEqual(hex(outcomeHash(base)), hex(outcomeHash({ ...base, status: 'out_of_fuel' })))
  })

  it('rejects malformed encodings with a named error', () => {
    const good = encodeOutcome({ status: 'ok', fuelUsed: 1n, outputHash: new Uint8Array(32) })
    const cases = [
      good.subarray(1),
      Uint8Array.of(2, ...good.subarray(1)),
      Uint8Array.of(1, 9, ...good.subarray(2)),
    ]
    for (const bad of cases) assert.throws(() => decodeOutcome(bad), { name: 'InvalidOutcomeEncodingError' })
  })
})
