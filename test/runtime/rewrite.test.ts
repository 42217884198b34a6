import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { execute } from '../../src/runtime/execute.js'
import { prepareModule } from '../../src/runtime/prepare.js'
import { enc, example, u32le } from './helpers.js'

describe('the metering rewrite', () => {
  it('charges a called leaf function to its caller', async () => {
    // primes' helpers are small leaves; fuel still grows with the range
    const prepared = await prepareModule(example('primes'))
    const limits = { fuel: 10_000_000_000n, memoryBytes: 64 << 20, maxOutputBytes: 1 << 20 }
    const seed = new Uint8Array(32)
    const a = execute({ prepared, input: enc('0 20000'), seed, limits })
    const b = execute({ prepared, input: enc('0 40000'), seed, limits })
    const ratio = Number(b.fuelUsed) / Number(a.fuelUsed)
    assert.ok(ratio > 1.8 && ratio < 2.3, `ratio ${ratio}`)
  })
})

describe('the metering rewrite on corrupted modules', () => {
  it('never turns a module V8 accepts into one it rejects, and the result always runs to an outcome', async () => {
    const { default: fc } = await import('fast-check')
    const { validateModule } = await import('../../src/runtime/index.js')
    const bases = [example('sha256'), example('wat/multi_value'), example('wat/count'), example('mandelbrot')]
    const limits = { fuel: 2_000_000n, memoryBytes: 8 << 20, maxOutputBytes: 1 << 16 }
    let accepted = 0
    await fc.assert(
      fc.asyncProperty(
        fc.nat(bases.length - 1),
        fc.array(fc.tuple(fc.nat(1 << 20), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
        async (which, edits) => {
          const m = bases[which]!.slice()
          for (const [i, v] of edits) m[8 + (i % (m.length - 8))] = v
          const verdict = validateModule(m)
          if (!verdict.ok) {
            assert.doesNotMatch(verdict.error.message, /could not be metered/)
            return
          }
          accepted++
          const o = execute({
            prepared: await prepareModule(m),
            input: u32le(1000),
            seed: new Uint8Array(32),
            limits,
          })
          assert.ok(o.fuelUsed <= limits.fuel)
        },
      ),
      { numRuns: 400, seed: 1234 },
    )
    assert.ok(accepted > 0)
  })
})
