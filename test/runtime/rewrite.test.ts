import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { wasm } from '../../src/runtime/engine.js'
import { execute } from '../../src/runtime/execute.js'
import { prepareModule } from '../../src/runtime/prepare.js'
import { enc, example, hex, u32le } from './helpers.js'

/** Runs a module as-is, with the same host functions and no metering. */
async function runUnmetered(bytes: Uint8Array, input: Uint8Array, seed: Uint8Array): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let memory: { buffer: ArrayBuffer } | undefined
  const mem = () => new Uint8Array(memory!.buffer)
  const module = await wasm.compile(bytes)
  const instance = new wasm.Instance(module, {
    plusone: {
      input_len: () => input.length,
      input_read: (dst: number, off: number, len: number) => {
        const n = Math.max(0, Math.min(len, input.length - off))
        mem().set(input.subarray(off, off + n), dst)
        return n
      },
      output_write: (src: number, len: number) => chunks.push(mem().slice(src, src + len)),
      seed: (dst: number) => mem().set(seed, dst),
      progress: () => {},
    },
    env: { abort: () => {} },
  })
  memory = instance.exports.memory as { buffer: ArrayBuffer }
  assert.equal((instance.exports.run as () => number)(), 0)
  return Buffer.concat(chunks)
}

const CASES: [string, Uint8Array][] = [
  ['sha256', new Uint8Array([...u32le(50), ...enc('differential')])],
  ['mandelbrot', enc('48 40 3 5 40 30 300')],
  ['primes', enc('1000 30000')],
  ['montecarlo_pi', enc('30000')],
  ['wat/multi_value', enc('')],
  ['wat/count', u32le(12345)],
  ['wat/echo', enc('echo me')],
  ['wat/fib', u32le(15)],
]

describe('the metering rewrite', () => {
  for (const [name, input] of CASES) {
    it(`does not change what ${name} computes`, async () => {
      const bytes = example(name)
      const seed = new Uint8Array(32).map((_, i) => i * 7)
      const expected = await runUnmetered(bytes, input, seed)
      const prepared = await prepareModule(bytes)
      const limits = { fuel: 10_000_000_000n, memoryBytes: 64 << 20, maxOutputBytes: 1 << 20 }
      const o = execute({ prepared, input, seed, limits })
      assert.equal(o.status, 'ok', o.message)
      assert.equal(hex(o.output), hex(expected))
    })
  }

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
