import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import wabtInit from 'wabt'
import {
  type OutcomeStatus,
  RuntimePool,
  type TaskLimits,
  WallClockExceededError,
} from '../../src/runtime/index.js'
import { enc, example, SMALL_LIMITS } from './helpers.js'

/** Hostile modules and the status each must end in; every one is bounded by SMALL_LIMITS. */
const HOSTILE: [string, OutcomeStatus, RegExp?][] = [
  ['infinite_loop', 'out_of_fuel'],
  ['start_loop', 'out_of_fuel'],
  ['grow_bomb', 'out_of_memory', /memory\.grow was refused at 256 pages/],
  ['grow_unbounded_max', 'error'],
  ['big_initial_memory', 'out_of_memory'],
  ['recursion', 'trap', /call depth/],
  ['big_frames', 'trap', /call depth/],
  ['endless_output', 'output_too_large'],
  ['div_by_zero', 'trap'],
  ['data_oob', 'trap'],
  ['abort', 'trap', /abort/],
]

describe('hostile modules', () => {
  let pool: RuntimePool
  before(() => {
    pool = new RuntimePool({ workers: 2 })
    pool.start()
  })
  after(() => pool.stop())

  const next = async () => {
    const o = await pool.run({
      module: example('wat/empty'),
      input: enc(''),
      taskId: enc('next'),
      limits: SMALL_LIMITS,
    })
    assert.equal(o.status, 'ok')
  }

  for (const [name, status, message] of HOSTILE) {
    it(`${name} ends as ${status} and the pool serves the next task`, async () => {
      const o = await pool.run({
        module: example(`wat/${name}`),
        input: enc(''),
        taskId: enc(name),
        limits: SMALL_LIMITS,
      })
      assert.equal(o.status, status, o.message)
      if (message) assert.match(o.message ?? '', message)
      assert.ok(o.fuelUsed <= SMALL_LIMITS.fuel)
      await next()
    })
  }

  it('recursion with huge operand stacks is stopped by the rewriter, not by V8', async () => {
    // each frame keeps 30 000 operands live across the recursive call
    const pushes = 30_000
    const wat = `(module (memory (export "memory") 1)
      (func $down (param i32) (result i32)
        ${'(i32.const 1) '.repeat(pushes)}
        (call $down (i32.add (local.get 0) (i32.const 1)))
        ${'i32.add '.repeat(pushes)})
      (func (export "run") (result i32) (drop (call $down (i32.const 0))) (i32.const 0)))`
    const wabt = await wabtInit()
    const mod = wabt.parseWat('deep.wat', wat)
    const module = new Uint8Array(mod.toBinary({}).buffer)
    mod.destroy()
    const o = await pool.run({ module, input: enc(''), taskId: enc('deep'), limits: SMALL_LIMITS })
    assert.equal(o.status, 'trap')
    assert.match(o.message ?? '', /call depth/)
  })

  it('out_of_fuel reports exactly the fuel limit as used', async () => {
    const o = await pool.run({
      module: example('wat/infinite_loop'),
      input: enc(''),
      taskId: enc('x'),
      limits: SMALL_LIMITS,
    })
    assert.equal(o.fuelUsed, SMALL_LIMITS.fuel)
  })

  it('output_too_large keeps the output written up to the limit', async () => {
    const limits = { ...SMALL_LIMITS, maxOutputBytes: 4500 }
    const o = await pool.run({
      module: example('wat/endless_output'),
      input: enc(''),
      taskId: enc('x'),
      limits,
    })
    assert.equal(o.status, 'output_too_large')
    assert.equal(o.output.length, 4000)
  })

  it('endless output under a 16 MiB memory limit ends output_too_large at 16 MiB, whatever maxOutputBytes says', async () => {
    const limits: TaskLimits = { ...SMALL_LIMITS, memoryBytes: 16 << 20, maxOutputBytes: 1 << 30 }
    const o = await pool.run({
      module: example('wat/endless_output'),
      input: enc(''),
      taskId: enc('x'),
      limits,
    })
    assert.equal(o.status, 'output_too_large')
    assert.match(o.message ?? '', /the task's memory limit of 16777216 bytes/)
    // 1000-byte writes: the last one that fits
    assert.equal(o.output.length, Math.floor((16 << 20) / 1000) * 1000)
  })

  it('a declared memory maximum above the limit is clamped, not rejected', async () => {
    // growing 65,000 pages costs about 1.07 G fuel
    const roomy: TaskLimits = { ...SMALL_LIMITS, memoryBytes: 65001 * 65536, fuel: 2_000_000_000n }
    const o = await pool.run({
      module: example('wat/grow_unbounded_max'),
      input: enc(''),
      taskId: enc('x'),
      limits: roomy,
    })
    // 65001 pages allowed: growing by 65000 from 1 succeeds, so run returns 0
    assert.equal(o.status, 'ok')
  })

  it('the wall-clock backstop stops a runaway worker, which is replaced', async () => {
    const limits: TaskLimits = { ...SMALL_LIMITS, fuel: 1n << 60n, wallClockMs: 300 }
    await assert.rejects(
      pool.run({ module: example('wat/infinite_loop'), input: enc(''), taskId: enc('x'), limits }),
      (err: Error) => err instanceof WallClockExceededError && err.name === 'WallClockExceededError',
    )
    assert.equal(pool.workers, 2)
    await next()
  })

  it('a task aborted while running rejects with AbortError and its worker is replaced', async () => {
    const limits: TaskLimits = { ...SMALL_LIMITS, fuel: 1n << 60n }
    const ac = new AbortController()
    const running = pool.run({
      module: example('wat/progress_then_spin'),
      input: enc(''),
      taskId: enc('x'),
      limits,
      signal: ac.signal,
      onProgress: () => ac.abort(), // the task is certainly running now
    })
    await assert.rejects(running, { name: 'AbortError' })
    assert.equal(pool.workers, 2)
    await next()
  })

  it('a task aborted before it starts never runs', async () => {
    const ac = new AbortController()
    ac.abort()
    await assert.rejects(
      pool.run({
        module: example('wat/empty'),
        input: enc(''),
        taskId: enc('x'),
        limits: SMALL_LIMITS,
        signal: ac.signal,
      }),
      { name: 'AbortError' },
    )
  })

  it('tasks queued behind busy workers all complete', async () => {
    const runs = Array.from({ length: 6 }, (_, i) =>
      pool.run({
        module: example('wat/infinite_loop'),
        input: enc(''),
        taskId: enc(`q${i}`),
        limits: { ...SMALL_LIMITS, fuel: 1_000_000n },
      }),
    )
    const outcomes = await Promise.all(runs)
    assert.deepEqual(
      outcomes.map((o) => o.status),
      Array(6).fill('out_of_fuel'),
    )
  })

  it('a stopped pool rejects new work with PoolStoppedError', async () => {
    const p = new RuntimePool({ workers: 1 })
    p.start()
    await p.stop()
    await assert.rejects(
      p.run({ module: example('wat/empty'), input: enc(''), taskId: enc('x'), limits: SMALL_LIMITS }),
      { name: 'PoolStoppedError' },
    )
  })
})
