/**
 * The differential corpus: modules run metered (through the rewriter, in the sandbox) and
 * unmetered (as-is) must end the same way with the same output, wherever WebAssembly is
 * deterministic. The corpus: every example task, the .wat corpus modules that end by
 * themselves, and generated programs (loops, branches, calls, memory, integer and float
 * arithmetic, traps).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import wabtInit from 'wabt'
import { execute } from '../../src/runtime/execute.js'
import { prepareModule } from '../../src/runtime/prepare.js'
import { enc, example, hex, runUnmetered, u32le } from './helpers.js'

const LIMITS = { fuel: 10_000_000_000n, memoryBytes: 64 << 20, maxOutputBytes: 16 << 20 }
const SEED = new Uint8Array(32).map((_, i) => i * 7)

const CORPUS: [string, Uint8Array][] = [
  ['sha256', new Uint8Array([...u32le(50), ...enc('differential')])],
  ['mandelbrot', enc('48 40 3 5 40 30 300')],
  ['primes', enc('1000 30000')],
  ['montecarlo_pi', enc('30000')],
  ['nbody', enc('2000')],
  ['allocate', enc('4096 64')],
  ['wat/abort', enc('')],
  ['wat/bulk_fill', u32le(5000)],
  ['wat/count', u32le(12345)],
  ['wat/data_oob', enc('')],
  ['wat/div_by_zero', enc('')],
  ['wat/echo', enc('echo me')],
  ['wat/empty', enc('')],
  ['wat/error_code', enc('')],
  ['wat/fib', u32le(15)],
  ['wat/grow_past_max', enc('')],
  ['wat/multi_value', enc('')],
  ['wat/work_grow', u32le(20)],
  ['wat/work_host', new Uint8Array([...u32le(50), ...u32le(2), 1, 2, 3])],
  ['wat/work_memory', u32le(20)],
  ['wat/work_table', u32le(1000)],
]

async function metered(bytes: Uint8Array, input: Uint8Array) {
  const o = execute({ prepared: await prepareModule(bytes), input, seed: SEED, limits: LIMITS })
  return { status: o.status, output: o.output }
}

/**
 * Statements of random programs over a few locals and a small memory. Floats leave only through
 * trunc_sat, so a NaN's bits (which WebAssembly leaves open when arithmetic produces it) never
 * reach the output.
 */
const STATEMENTS = [
  '(local.set $a (i32.add (local.get $a) (i32.const 1234567)))',
  '(local.set $a (i32.mul (local.get $a) (i32.or (local.get $b) (i32.const 1))))',
  '(local.set $b (i32.xor (local.get $b) (i32.rotl (local.get $a) (i32.const 5))))',
  '(local.set $b (i32.div_s (local.get $a) (i32.and (local.get $b) (i32.const 7))))',
  '(local.set $x (f64.add (local.get $x) (f64.convert_i32_s (local.get $a))))',
  '(local.set $y (f64.mul (local.get $y) (f64.const -1.0001)))',
  '(local.set $x (f64.div (local.get $x) (local.get $y)))',
  '(local.set $y (f64.sqrt (f64.sub (local.get $y) (local.get $x))))',
  '(local.set $x (f64.min (local.get $x) (f64.nearest (local.get $y))))',
  // copysign with an arithmetic NaN as sign operand is nondeterministic in WebAssembly itself
  '(local.set $x (f64.neg (f64.copysign (local.get $x) (f64.const -2))))',
  '(if (i32.and (local.get $a) (i32.const 1)) (then (local.set $b (call $mix (local.get $b) (local.get $a)))))',
  '(i32.store (i32.and (local.get $a) (i32.const 0xff8)) (local.get $b))',
  '(local.set $b (i32.add (local.get $b) (i32.load (i32.and (local.get $b) (i32.const 0xff8)))))',
  '(memory.fill (i32.and (local.get $a) (i32.const 0xff0)) (local.get $b) (i32.const 16))',
  '(memory.copy (i32.const 0) (i32.and (local.get $b) (i32.const 0xf00)) (i32.const 64))',
  '(local.set $a (i32.trunc_sat_f64_s (local.get $x)))',
  '(local.set $a (call $leaf (local.get $a)))',
  '(if (i32.eq (i32.and (local.get $a) (i32.const 0xffff)) (i32.const 77)) (then unreachable))',
]

function program(statements: number[], iterations: number): string {
  const body = statements.map((i) => STATEMENTS[i]).join('\n        ')
  return `(module
    (import "plusone" "output_write" (func $output_write (param i32 i32)))
    (memory (export "memory") 1)
    (func $leaf (param i32) (result i32) (i32.xor (local.get 0) (i32.const 0x5bd1e995)))
    (func $mix (param i32 i32) (result i32)
      (local $i i32)
      (loop $l
        (local.set 0 (i32.add (i32.mul (local.get 0) (i32.const 31)) (local.get 1)))
        (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 3))))
      (local.get 0))
    (func (export "run") (result i32)
      (local $a i32) (local $b i32) (local $x f64) (local $y f64) (local $n i32)
      (local.set $b (i32.const 7)) (local.set $x (f64.const 1.5)) (local.set $y (f64.const 3))
      (loop $more
        ${body}
        (br_if $more (i32.lt_u (local.tee $n (i32.add (local.get $n) (i32.const 1))) (i32.const ${iterations}))))
      (i32.store (i32.const 4096) (local.get $a))
      (i32.store (i32.const 4100) (local.get $b))
      (i64.store (i32.const 4104) (i64.trunc_sat_f64_s (local.get $x)))
      (i64.store (i32.const 4112) (i64.trunc_sat_f64_s (local.get $y)))
      (call $output_write (i32.const 0) (i32.const 4120))
      (i32.const 0)))`
}

describe('differential corpus: metered and unmetered agree', () => {
  for (const [name, input] of CORPUS) {
    it(`${name}: same status and output`, async () => {
      const bytes = example(name)
      const plain = await runUnmetered(bytes, input, SEED)
      const ours = await metered(bytes, input)
      assert.equal(ours.status, plain.status)
      assert.equal(hex(ours.output), hex(plain.output))
    })
  }

  it('generated programs: same status and output (200 programs)', async () => {
    const wabt = await wabtInit()
    const statuses = new Set<string>()
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(STATEMENTS.length - 1), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 300 }),
        async (statements, iterations) => {
          const mod = wabt.parseWat('generated.wat', program(statements, iterations))
          let bytes: Uint8Array
          try {
            bytes = new Uint8Array(mod.toBinary({}).buffer)
          } finally {
            mod.destroy()
          }
          const plain = await runUnmetered(bytes, enc(''), SEED)
          const ours = await metered(bytes, enc(''))
          statuses.add(ours.status)
          assert.equal(ours.status, plain.status)
          assert.equal(hex(ours.output), hex(plain.output))
        },
      ),
      { numRuns: 200, seed: 99 },
    )
    // the corpus reaches both endings
    assert.deepEqual([...statuses].sort(), ['ok', 'trap'])
  })
})
