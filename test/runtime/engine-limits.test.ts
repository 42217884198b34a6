import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Writer } from '../../src/runtime/binary.js'
import { RuntimePool, validateModule } from '../../src/runtime/index.js'
import { enc, SMALL_LIMITS } from './helpers.js'

/**
 * A module with a type of `results` i32 results and `functions` functions of that type (bodies:
 * `unreachable`), plus memory and run. The review's case is 1,000,000 results and 1,000
 * functions: about 1 MB, and it took the rewriter 9–26 s (a key of a million joined results per
 * function) before V8 rejected it.
 */
function manyResults(results: number, functions: number): Uint8Array {
  const w = new Writer(results + functions * 8 + 256)
  w.bytes(Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0))
  const section = (id: number, fill: (s: Writer) => void) => {
    const s = new Writer(results + 1024)
    fill(s)
    w.byte(id)
    w.u32(s.len)
    w.bytes(s.buf.subarray(0, s.len))
  }
  section(1, (s) => {
    s.u32(2)
    s.bytes(Uint8Array.of(0x60, 0))
    s.u32(results)
    s.bytes(new Uint8Array(results).fill(0x7f))
    s.bytes(Uint8Array.of(0x60, 0, 1, 0x7f))
  })
  section(3, (s) => {
    s.u32(functions + 1)
    for (let i = 0; i < functions; i++) s.byte(0)
    s.byte(1)
  })
  section(5, (s) => s.bytes(Uint8Array.of(1, 0, 1)))
  section(7, (s) => {
    s.u32(2)
    s.name('memory')
    s.bytes(Uint8Array.of(2, 0))
    s.name('run')
    s.byte(0)
    s.u32(functions)
  })
  section(10, (s) => {
    s.u32(functions + 1)
    for (let i = 0; i < functions; i++) s.bytes(Uint8Array.of(3, 0, 0x00, 0x0b))
    s.bytes(Uint8Array.of(4, 0, 0x41, 0, 0x0b))
  })
  return w.buf.slice(0, w.len)
}

describe("V8's limits, applied before the rewrite", () => {
  let pool: RuntimePool
  before(() => {
    pool = new RuntimePool({ workers: 1 })
    pool.start()
  })
  after(() => pool.stop())

  it('refuses the 1 MB module with a 1,000,000-result type and 1,000 functions, naming the limit', async () => {
    const module = manyResults(1_000_000, 1000)
    assert.ok(module.length > 1_000_000)
    const o = await pool.run({ module, input: enc(''), taskId: enc('r'), limits: SMALL_LIMITS })
    assert.equal(o.status, 'invalid_module')
    assert.equal(
      o.message,
      'module declares a function type (type 0) with 1000000 results; WebAssembly engines accept at most 1000',
    )
  })

  it('accepts a type at the limit (1,000 results) shared by 1,000 functions', () => {
    assert.deepEqual(validateModule(manyResults(1000, 1000)), { ok: true })
  })

  it('refuses one result past the limit', () => {
    const r = validateModule(manyResults(1001, 1))
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
