import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Writer } from '../../src/runtime/binary.js'
import { RuntimePool, validateModule } from '../../src/runtime/index.js'
import { enc, manyResultsModule, SMALL_LIMITS } from './helpers.js'

describe("V8's limits, applied before the rewrite", () => {
  let pool: RuntimePool
  before(() => {
    pool = new RuntimePool({ workers: 1 })
    pool.start()
  })
  after(() => pool.stop())

  it('refuses the 1 MB module with a 1,000,000-result type and 1,000 functions, naming the limit', async () => {
    const module = manyResultsModule(1_000_000, 1000)
    assert.ok(module.length > 1_000_000)
    const o = await pool.run({ module, input: enc(''), taskId: enc('r'), limits: SMALL_LIMITS })
    assert.equal(o.status, 'invalid_module')
    assert.equal(
      o.message,
      'module declares a function type (type 0) with 1000000 results; WebAssembly engines accept at most 1000',
    )
  })

  it('accepts a type at the limit (1,000 results) shared by 1,000 functions', () => {
    assert.deepEqual(validateModule(manyResultsModule(1000, 1000)), { ok: true })
  })

  it('refuses one result past the limit', () => {
    const r = validateModule(manyResultsModule(1001, 1))
    assert.equal(r.ok, false)
    if (!r.ok) assert.match(r.error.message, /with 1001 results; WebAssembly engines accept at most 1000/)
  })

  it('refuses more functions than V8 accepts before reading their types', () => {
    // a function section claiming 2^31 entries in a few bytes
    const w = new Writer(64)
    w.bytes(Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 5))
    w.u32(2 ** 31)
    const r = validateModule(w.buf.slice(0, w.len))
    assert.equal(r.ok, false)
    if (!r.ok)
      assert.match(r.error.message, /declares 2147483648 functions; WebAssembly engines accept at most/)
  })
})
