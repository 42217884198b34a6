import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { RuntimePool, type TaskLimits } from '../../src/runtime/index.js'
import { enc, example, hex, u32le } from './helpers.js'

const LIMITS: TaskLimits = {
  fuel: 10_000_000_000n,
  memoryBytes: 64 * 1024 * 1024,
  maxOutputBytes: 1024 * 1024,
}

describe('metering and bounds', () => {
  let pool: RuntimePool
  before(() => {
    pool = new RuntimePool({ workers: 1 })
    pool.start()
  })
  after(() => pool.stop())
  const run = (name: string, input: Uint8Array, limits = LIMITS) =>
    pool.run({ module: example(name), input, taskId: enc('m'), limits })

  it('fuel grows with work: twice the iterations take about twice the fuel', async () => {
    const one = await run('wat/count', u32le(100_000))
    const two = await run('wat/count', u32le(200_000))
    assert.equal(one.status, 'ok')
    const ratio = Number(two.fuelUsed) / Number(one.fuelUsed)
    assert.ok(ratio > 1.95 && ratio < 2.05, `ratio ${ratio}`)
  })

  it('fuel grows with work in a real task (sha256 iterations)', async () => {
    const one = await run('sha256', new Uint8Array([...u32le(1000), 1, 2, 3]))
    const two = await run('sha256', new Uint8Array([...u32le(2000), 1, 2, 3]))
    const ratio = Number(two.fuelUsed) / Number(one.fuelUsed)
    assert.ok(ratio > 1.9 && ratio < 2.1, `ratio ${ratio}`)
  })

  it('bulk memory operations pay for the bytes they touch', async () => {
    const small = await run('wat/bulk_fill', u32le(1024))
    const large = await run('wat/bulk_fill', u32le(1024 * 1024))
    assert.equal(large.status, 'ok')
    assert.ok(large.fuelUsed - small.fuelUsed >= 2n * ((1024n * 1024n - 1024n) >> 6n))
  })

  it('exactly the fuel a task needs is enough, and one less is out_of_fuel', async () => {
    const needed = (await run('wat/count', u32le(1000))).fuelUsed
    assert.equal((await run('wat/count', u32le(1000), { ...LIMITS, fuel: needed })).status, 'ok')
    const short = await run('wat/count', u32le(1000), { ...LIMITS, fuel: needed - 1n })
    assert.equal(short.status, 'out_of_fuel')
  })

  it('NaNs produced by arithmetic come out canonical; bit-exact operators keep sign and payload', async () => {
    const o = await run('wat/nan', enc(''))
    assert.equal(o.status, 'ok', o.message)
    const v = new DataView(o.output.buffer, o.output.byteOffset, o.output.length)
    const got = Array.from({ length: o.output.length / 8 }, (_, i) =>
      v.getBigUint64(i * 8, true).toString(16),
    )
    const F64_NAN = '7ff8000000000000'
    const F32_NAN = '7fc00000'
    assert.deepEqual(got, [
      // arithmetic: 0/0, -nan:0x1234 + 1, nan:0x5 * 2, sqrt(-1) (f64); 0/0, -nan:0x7 - 1,
      // demote(-nan:0x8000000000) (f32); promote(-nan:0x3) (f64); min(-nan, 0) (f32)
      F64_NAN,
      F64_NAN,
      F64_NAN,
      F64_NAN,
      F32_NAN,
      F32_NAN,
      F32_NAN,
      F64_NAN,
      F32_NAN,
      'fff8000000000000', // i64.reinterpret_f64(f64.const -nan)
      'ffc00000', // i32.reinterpret_f32(f32.const -nan)
      'bff0000000000000', // f64.copysign(1, -nan) = -1
      'bf800000', // f32.copysign(1, -nan) = -1
      'fff8000000000000', // f64.neg of a (canonicalised) arithmetic NaN
      '7f800002', // f32.abs(-nan:0x2)
      '7f800001', // a signalling NaN through load, call, local, store
      '7f800001', // a signalling NaN in a global
      F64_NAN, // (0 * inf) in a local read only by arithmetic, + 1
      F64_NAN, // the same, minus itself, reinterpreted
    ])
  })

  it('multi-value results, early returns, br_table and table calls survive the rewrite', async () => {
    const o = await run('wat/multi_value', enc(''))
    assert.equal(hex(o.output), '01000000020000000300000004000000')
  })

  it('a non-zero return from run is the outcome error with that code, keeping partial output', async () => {
    const o = await run('wat/error_code', enc(''))
    assert.equal(o.status, 'error')
    assert.equal(o.code, 7)
    assert.equal(new TextDecoder().decode(o.output), 'partial')
  })

  it('the host ABI hands over input and seed', async () => {
    const o = await run('wat/echo', enc('some input'))
    assert.equal(o.status, 'ok')
    assert.equal(o.output.length, 32 + 10)
    assert.equal(new TextDecoder().decode(o.output.subarray(32)), 'some input')
  })

  it('memory below the module minimum is out_of_memory before any code runs', async () => {
    const o = await run('wat/empty', enc(''), { ...LIMITS, memoryBytes: 0 })
    assert.equal(o.status, 'out_of_memory')
    assert.equal(o.fuelUsed, 0n)
  })

  it('rejects limits out of range with a named error', async () => {
    await assert.rejects(run('wat/empty', enc(''), { ...LIMITS, fuel: 0n }), { name: 'InvalidLimitsError' })
  })
})
