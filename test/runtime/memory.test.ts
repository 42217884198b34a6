import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import wabtInit from 'wabt'
import { RuntimePool, type TaskLimits } from '../../src/runtime/index.js'
import { enc, example, SMALL_LIMITS } from './helpers.js'

const MIB = 1 << 20

describe('memory.grow as WebAssembly defines it', () => {
  let pool: RuntimePool
  before(() => {
    pool = new RuntimePool({ workers: 1 })
    pool.start()
  })
  after(() => pool.stop())
  const run = (name: string, input: string, limits: TaskLimits = SMALL_LIMITS) =>
    pool.run({ module: example(name), input: enc(input), taskId: enc('g'), limits })

  it('returns -1 past the declared maximum and the task carries on', async () => {
    const o = await run('wat/grow_past_max', '')
    assert.equal(o.status, 'ok', o.message)
    const v = new DataView(o.output.buffer, o.output.byteOffset)
    assert.deepEqual([v.getInt32(0, true), v.getInt32(4, true), v.getInt32(8, true)], [1, -1, 2])
  })

  it('returns -1 past the task limit: the module decides what to do (here: run returns 1)', async () => {
    const o = await run('wat/grow_unbounded_max', '')
    assert.equal(o.status, 'error')
    assert.equal(o.code, 1)
  })

  it('an AssemblyScript task allocating close to its limit finishes ok (the doubling is refused, the fallback granted)', async () => {
    // 11 MiB in 256 KiB blocks under a 12 MiB limit: at 8 MiB the allocator asks for 16 MiB
    const o = await run('allocate', '11264 256', { ...SMALL_LIMITS, memoryBytes: 12 * MIB })
    assert.equal(o.status, 'ok', o.message)
    assert.match(new TextDecoder().decode(o.output), /^allocated 11264 KiB in 44 blocks, checksum \d+\n$/)
  })

  it('the same task asking for more than its limit ends out_of_memory: the trap after a refused grow', async () => {
    const o = await run('allocate', '16384 256', { ...SMALL_LIMITS, memoryBytes: 12 * MIB })
    assert.equal(o.status, 'out_of_memory')
    assert.match(o.message ?? '', /memory\.grow was refused at \d+ pages \(the limit is 192 pages\)/)
    assert.ok(o.fuelUsed > 0n && o.fuelUsed < SMALL_LIMITS.fuel)
  })

  // The first two modules of the WebAssembly spec's test/core/memory_grow.wast, one task each:
  // the results of the grows, in order, must be the spec's assert_return values.
  for (const [memory, deltas, expected] of [
    ['0', [0, 1, 0, 2, 800, 0x10000, 64736, 1], [0, 0, 1, 1, 3, -1, -1, 803]],
    ['0 10', [0, 1, 1, 2, 6, 0, 1, 0x10000], [0, 0, 1, 2, 4, 10, -1, -1]],
  ] as const) {
    it(`agrees with the spec's memory_grow.wast for (memory ${memory})`, async () => {
      const wabt = await wabtInit()
      const locals = deltas.map((_, i) => `(local $r${i} i32)`).join(' ')
      const grows = deltas.map((d, i) => `(local.set $r${i} (memory.grow (i32.const ${d})))`).join(' ')
      const stores = deltas.map((_, i) => `(i32.store (i32.const ${i * 4}) (local.get $r${i}))`).join(' ')
      const mod = wabt.parseWat(
        'memory_grow.wat',
        `(module (import "plusone" "output_write" (func $w (param i32 i32)))
          (memory (export "memory") ${memory})
          (func (export "run") (result i32) ${locals}
            ${grows} ${stores}
            (call $w (i32.const 0) (i32.const ${deltas.length * 4}))
            (i32.const 0)))`,
      )
      const module = new Uint8Array(mod.toBinary({}).buffer)
      mod.destroy()
      const limits = { ...SMALL_LIMITS, memoryBytes: 64 * MIB }
      const o = await pool.run({ module, input: enc(''), taskId: enc('spec'), limits })
      assert.equal(o.status, 'ok', o.message)
      const v = new DataView(o.output.buffer, o.output.byteOffset, o.output.length)
      assert.deepEqual(
        deltas.map((_, i) => v.getInt32(i * 4, true)),
        [...expected],
      )
    })
  }

  it('an initial memory over the limit is still out_of_memory before any code runs', async () => {
    const o = await run('wat/big_initial_memory', '')
    assert.equal(o.status, 'out_of_memory')
    assert.equal(o.fuelUsed, 0n)
  })
})
