import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { InvalidModuleError, MAX_MODULE_BYTES, RuntimePool, validateModule } from '../../src/runtime/index.js'
import { example, enc, SMALL_LIMITS } from './helpers.js'

/** Each rejected module and a phrase its sentence must contain. */
const REJECTED: [string, RegExp][] = [
  ['forbidden_import', /imports env\.now: only the plusone host functions are available/],
  ['bad_import_signature', /imports plusone\.input_len as \(\) -> \(i64\), but it is \(\) -> \(i32\)/],
  ['shared_memory', /shared memory/],
  ['atomics', /threads\/atomics/],
  ['simd', /SIMD/],
  ['exceptions', /exception handling/],
  ['tail_call', /tail calls/],
  ['reference_types', /reference types/],
  ['memory64', /memory64/],
  ['multi_memory', /multi-memory/],
  ['no_run', /does not export a function run\(\) -> i32/],
  ['no_memory_export', /does not export its memory/],
  ['bad_run_signature', /exports run as \(i32\) -> \(i32\), but it must be \(\) -> \(i32\)/],
  ['table_copy_bomb', /uses table\.copy, which is not supported: its cost grows with the table size/],
  ['table_init_bomb', /uses table\.init, which is not supported/],
]

const ACCEPTED = [
  'sha256',
  'mandelbrot',
  'primes',
  'montecarlo_pi',
  'wat/multi_value',
  'wat/nan',
  'wat/bulk_fill',
]

describe('validateModule', () => {
  for (const [name, sentence] of REJECTED) {
    it(`rejects ${name} with a sentence the author can act on`, () => {
      const r = validateModule(example(`wat/${name}`))
      assert.equal(r.ok, false)
      if (r.ok) return
      assert.equal(r.error.name, 'InvalidModuleError')
      assert.ok(r.error instanceof InvalidModuleError)
      assert.match(r.error.message, sentence)
    })
  }

  for (const name of ACCEPTED) {
    it(`accepts ${name}`, () => {
      assert.deepEqual(validateModule(example(name)), { ok: true })
    })
  }

  it('rejects GC types', () => {
    const m = example('wat/empty').slice()
    m[m.indexOf(0x60, 8)] = 0x5f // func type -> struct type
    const r = validateModule(m)
    assert.equal(r.ok, false)
    if (!r.ok) assert.match(r.error.message, /GC types are not supported/)
  })

  it('rejects a file that is not WebAssembly', () => {
    const r = validateModule(enc('#!/bin/sh\necho hello\n'))
    assert.equal(r.ok, false)
    if (!r.ok) assert.match(r.error.message, /is not WebAssembly/)
  })

  it('rejects a module over the size limit before parsing it', () => {
    const big = new Uint8Array(MAX_MODULE_BYTES + 1)
    big.set([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])
    const r = validateModule(big)
    assert.equal(r.ok, false)
    if (!r.ok) assert.match(r.error.message, /limit is 8388608 bytes/)
  })

  it('rejects a body that V8 finds ill-typed, explained from the original module', () => {
    // (func (result i32) i64.const 0): type mismatch
    const m = example('wat/empty')
    const bad = m.slice()
    const at = bad.lastIndexOf(0x41) // i32.const 0 -> i64.const 0
    bad[at] = 0x42
    const r = validateModule(bad)
    assert.equal(r.ok, false)
    if (!r.ok) assert.match(r.error.message, /is not valid WebAssembly/)
  })

  it('never throws anything but a verdict on corrupted modules', () => {
    const base = example('sha256')
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.nat(base.length),
        (edits, cut) => {
          const m = base.slice(0, Math.max(8, cut))
          for (const [i, v] of edits) if (i < m.length) m[i] = v
          const r = validateModule(m)
          if (!r.ok) assert.equal(r.error.name, 'InvalidModuleError')
        },
      ),
      { numRuns: 300, seed: 42 },
    )
  })
})

describe('invalid modules through the pool', () => {
  let pool: RuntimePool
  before(() => {
    pool = new RuntimePool({ workers: 1 })
    pool.start()
  })
  after(() => pool.stop())

  it('ends as invalid_module with zero fuel and empty output, and the pool serves the next task', async () => {
    for (const [name] of REJECTED) {
      const o = await pool.run({
        module: example(`wat/${name}`),
        input: enc(''),
        taskId: enc(name),
        limits: SMALL_LIMITS,
      })
      assert.equal(o.status, 'invalid_module', name)
      assert.equal(o.fuelUsed, 0n)
      assert.equal(o.output.length, 0)
      assert.match(o.message ?? '', /^module /)
    }
    const ok = await pool.run({
      module: example('wat/empty'),
      input: enc(''),
      taskId: enc('t'),
      limits: SMALL_LIMITS,
    })
    assert.equal(ok.status, 'ok')
  })
})
