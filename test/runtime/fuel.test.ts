import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import wabtInit from 'wabt'
import { RuntimePool, type TaskLimits } from '../../src/runtime/index.js'
import { enc, SMALL_LIMITS } from './helpers.js'

/** Each host import, called as a small (unmetered) leaf would call it. */
const CALLS: Record<string, string> = {
  input_len: '(drop (call $input_len))',
  input_read: '(drop (call $input_read (i32.const 0) (i32.const 0) (i32.const 4)))',
  output_write: '(call $output_write (i32.const 0) (i32.const 4))',
  seed: '(call $seed (i32.const 64))',
  progress: '(call $progress (i32.const 500))',
  abort: '(call $abort (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 1))',
}

/**
 * run() does some work in a loop, then calls $leaf, a small getter (no loops, no calls but the
 * host function): the rewriter leaves such leaves unmetered and charges their callers. The leaf
 * traps after the host call when `trapIn` is 'leaf'; otherwise run traps after it returns.
 */
function leafModule(name: string, trapIn: 'leaf' | 'caller'): string {
  return `(module
    (import "plusone" "input_len" (func $input_len (result i32)))
    (import "plusone" "input_read" (func $input_read (param i32 i32 i32) (result i32)))
    (import "plusone" "output_write" (func $output_write (param i32 i32)))
    (import "plusone" "seed" (func $seed (param i32)))
    (import "plusone" "progress" (func $progress (param i32)))
    (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
    (memory (export "memory") 1)
    (func $leaf (param $trap i32) (result i32)
      ${CALLS[name]}
      (if (local.get $trap) (then unreachable))
      (i32.load (i32.const 0)))
    (func (export "run") (result i32)
      (local $i i32)
      (loop $work
        (br_if $work (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 100))))
      (drop (call $leaf (i32.const ${trapIn === 'leaf' ? 1 : 0})))
      unreachable))`
}

describe('fuelUsed is exact when a task traps in or after a leaf that calls the host', () => {
  let pool: RuntimePool
  let wabt: Awaited<ReturnType<typeof wabtInit>>
  before(async () => {
    wabt = await wabtInit()
    pool = new RuntimePool({ workers: 1 })
    pool.start()
  })
  after(() => pool.stop())

  const compile = (wat: string) => {
    const mod = wabt.parseWat('leaf.wat', wat)
    try {
      return new Uint8Array(mod.toBinary({}).buffer)
    } finally {
      mod.destroy()
    }
  }
  const run = (module: Uint8Array, limits: TaskLimits) =>
    pool.run({ module, input: enc('four'), taskId: enc('leaf'), limits })

  for (const name of Object.keys(CALLS)) {
    for (const trapIn of name === 'abort' ? (['leaf'] as const) : (['leaf', 'caller'] as const)) {
      it(`${name} from a leaf, trap in the ${trapIn}: the work done is billed, not the whole limit`, async () => {
        const module = compile(leafModule(name, trapIn))
        const small = await run(module, { ...SMALL_LIMITS, fuel: 1_000_000n })
        const large = await run(module, { ...SMALL_LIMITS, fuel: 1_000_000_000_000n })
        assert.equal(small.status, 'trap')
        assert.equal(large.status, 'trap')
        // the 100-iteration loop ran: at least 500 instructions, and far below any limit
        assert.ok(small.fuelUsed > 500n && small.fuelUsed < 2000n, `fuelUsed ${small.fuelUsed}`)
        assert.equal(large.fuelUsed, small.fuelUsed)
      })
    }
  }
})
