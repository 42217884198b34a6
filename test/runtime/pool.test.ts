/**
 * The pool's process mechanics, checked against what Linux reports in /proc: tasks run in
 * confined child processes, a runaway is killed with its process, stop() leaves no child
 * behind, and untrusted modules are prepared away from the event loop within a time limit.
 * Every pool here is stopped by its test, so the children of this process are the current pool's.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import wabtInit from 'wabt'
import {
  type Outcome,
  RuntimePool,
  type RuntimePoolInit,
  type TaskLimits,
  WallClockExceededError,
} from '../../src/runtime/index.js'
import { enc, example, SMALL_LIMITS } from './helpers.js'
import { alive, childrenOf, cmdlineOf, environOf, stdinOf, uidOf } from './procfs.js'

const RUNAWAY: TaskLimits = { ...SMALL_LIMITS, fuel: 1n << 60n }

/**
 * A task that never yields between long builtins: memory.fill over its whole 16 MiB memory, in
 * a loop (the table.copy loop is now refused as invalid_module; bulk memory is not).
 */
const FILL_LOOP = `(module
  (import "plusone" "progress" (func $progress (param i32)))
  (memory (export "memory") 256)
  (func (export "run") (result i32)
    (call $progress (i32.const 1))
    (loop $forever
      (memory.fill (i32.const 0) (i32.const 7) (i32.const 16777216))
      (br $forever))
    (i32.const 0)))`

// wabt's initialiser resolves only once per process
const wabtReady = wabtInit()

async function wat(text: string): Promise<Uint8Array> {
  const wabt = await wabtReady
  const mod = wabt.parseWat('test.wat', text, { bulk_memory: true })
  const bytes = new Uint8Array(mod.toBinary({}).buffer)
  mod.destroy()
  return bytes
}

function u32leb(n: number): number[] {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}

/**
 * The slow-to-reject module: one type with 1,000,000 results used by 1,000 functions that
 * each call another (so each gets a metered wrapper). Rewriting it on main took 9–38 s.
 */
function manyResultsModule(): Uint8Array {
  const section = (id: number, body: number[]) => [id, ...u32leb(body.length), ...body]
  const bigType = [0x60, 0, ...u32leb(1_000_000), ...new Array<number>(1_000_000).fill(0x7f)]
  const types = section(1, [2, ...bigType, 0x60, 0, 1, 0x7f])
  const funcs = section(3, [...u32leb(1001), ...new Array<number>(1000).fill(0), 1])
  const memory = section(5, [1, 0, 1])
  const name = (s: string) => [s.length, ...Buffer.from(s)]
  const exports = section(7, [2, ...name('memory'), 2, 0, ...name('run'), 0, ...u32leb(1000)])
  const bodies: number[] = []
  for (let i = 0; i < 1000; i++) bodies.push(6, 0, 0x10, ...u32leb(1000), 0x00, 0x0b) // call $run; unreachable
  bodies.push(4, 0, 0x41, 0, 0x0b) // i32.const 0
  const code = section(10, [...u32leb(1001), ...bodies])
  return Uint8Array.from([
    0,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...types,
    ...funcs,
    ...memory,
    ...exports,
    ...code,
  ])
}

/** Runs `fn` with a started pool and stops the pool afterwards, whatever happens. */
async function withPool(init: RuntimePoolInit, fn: (pool: RuntimePool) => Promise<void>): Promise<void> {
  const pool = new RuntimePool(init)
  pool.start()
  try {
    await fn(pool)
  } finally {
    await pool.stop()
  }
}

/** Resolves once the task has certainly started (its first progress report). */
function runUntilStarted(pool: RuntimePool, module: Uint8Array, limits: TaskLimits) {
  let started!: () => void
  const running = new Promise<void>((r) => {
    started = r
  })
  const result = pool.run({
    module,
    input: enc(''),
    taskId: enc('spin'),
    limits,
    onProgress: () => started(),
  })
  result.catch(() => {})
  return { running, result }
}

describe('the sandboxed worker pool', () => {
  it("runs tasks in processes that hold nothing of the node's", async (t) => {
    process.env.PLUSONE_TEST_SECRET = 'must not leak'
    const pool = new RuntimePool({ workers: 1 })
    pool.start()
    try {
      assert.equal(
        (
          await pool.run({
            module: example('wat/empty'),
            input: enc(''),
            taskId: enc('e'),
            limits: SMALL_LIMITS,
          })
        ).status,
        'ok',
      )
      const pids = pool.pids
      assert.equal(pids.length, 2, 'one task worker and the preparer')
      assert.deepEqual(childrenOf(process.pid).sort(), [...pids].sort())
      for (const pid of pids) {
        const env = environOf(pid).filter((e) => !/^(NODE_CHANNEL_\w+|PWD)=/.test(e))
        assert.deepEqual(env, [], 'nothing but the IPC channel and the working directory')
        const argv = cmdlineOf(pid)
        assert.ok(argv.includes('--experimental-permission'), argv.join(' '))
        assert.ok(
          argv.some((a) => /^--allow-fs-read=.*runtime\/\*$/.test(a)),
          argv.join(' '),
        )
        assert.ok(!argv.some((a) => /^--allow-(fs-write|child-process|worker|addons|wasi)/.test(a)))
        assert.equal(stdinOf(pid), '/dev/null')
        if (process.getuid?.() !== 0) continue
        if (pool.sandbox?.startsWith('user nobody')) assert.notEqual(uidOf(pid), 0, 'root dropped to nobody')
        else {
          assert.match(pool.sandbox ?? '', /cannot read/, 'says why it keeps root')
          t.diagnostic(`sandbox kept root: ${pool.sandbox}`)
        }
      }
    } finally {
      delete process.env.PLUSONE_TEST_SECRET
      await pool.stop()
    }
    assert.deepEqual(childrenOf(process.pid), [])
  })

  it('kills a task looping over memory.fill at its wall clock; the replacement starts after the old process is gone', async () => {
    await withPool({ workers: 1 }, async (pool) => {
      const module = await wat(FILL_LOOP)
      const run = runUntilStarted(pool, module, { ...RUNAWAY, wallClockMs: 1000 })
      const [busy] = pool.pids // the run starts its worker at once
      await assert.rejects(run.result, (err: Error) => err instanceof WallClockExceededError)
      const next = await pool.run({
        module: example('wat/empty'),
        input: enc(''),
        taskId: enc('n'),
        limits: SMALL_LIMITS,
      })
      assert.equal(next.status, 'ok')
      assert.equal(alive(busy!), false, 'the runaway worker process is gone')
      assert.ok(!pool.pids.includes(busy!))
      assert.equal(childrenOf(process.pid).length, 2, 'one worker and the preparer, nothing left over')
    })
  })

  it('two runaway tasks on one worker never have more than one task process between them', async () => {
    await withPool({ workers: 1 }, async (pool) => {
      const module = await wat(FILL_LOOP)
      const limits = { ...RUNAWAY, wallClockMs: 400 }
      const counts: number[] = []
      const runs = ['a', 'b'].map((id) =>
        pool
          .run({
            module,
            input: enc(''),
            taskId: enc(id),
            limits,
            onProgress: () => counts.push(childrenOf(process.pid).length),
          })
          .catch((err: Error) => {
            counts.push(childrenOf(process.pid).length)
            return err
          }),
      )
      const errors = await Promise.all(runs)
      assert.ok(errors.every((e) => e instanceof WallClockExceededError))
      assert.ok(counts.length >= 4, `sampled while running and at each deadline: ${counts}`)
      assert.ok(
        counts.every((n) => n <= 2),
        `at most one worker and the preparer: ${counts}`,
      )
    })
  })

  it('sends each worker a module once and again after its cache evicted it', async () => {
    await withPool({ workers: 2, cacheEntries: 2 }, async (pool) => {
      const names = ['wat/empty', 'wat/count', 'sha256']
      const statuses: string[] = []
      // 3 modules through 2-entry caches, 4 rounds in two workers: hits, misses and evictions
      for (let round = 0; round < 4; round++)
        for (const name of names) {
          const runs = [0, 1].map((w) =>
            pool.run({
              module: example(name),
              input: enc('\0\0\0\0'),
              taskId: enc(`${w}`),
              limits: SMALL_LIMITS,
            }),
          )
          for (const o of await Promise.all(runs)) statuses.push(`${name}:${o.status}`)
        }
      assert.deepEqual(
        statuses,
        Array.from({ length: 4 }, () => names.flatMap((n) => [`${n}:ok`, `${n}:ok`])).flat(),
      )
    })
  })

  it('stop() kills tasks that never yield and resolves once no child process remains', async () => {
    const pool = new RuntimePool({ workers: 2 })
    pool.start()
    const module = await wat(FILL_LOOP)
    const runs = [
      runUntilStarted(pool, module, RUNAWAY),
      runUntilStarted(pool, example('wat/progress_then_spin'), RUNAWAY),
    ]
    await Promise.all(runs.map((r) => r.running))
    const pids = pool.pids
    assert.equal(pids.length, 3)
    await pool.stop()
    for (const r of runs) await assert.rejects(r.result, { name: 'PoolStoppedError' })
    assert.deepEqual(childrenOf(process.pid), [])
    assert.ok(pids.every((p) => !alive(p)))
  })

  it('a module that takes longer than the time limit to prepare is invalid_module and its preparer is replaced', async () => {
    await withPool({ workers: 1, slowPrepareMs: 60_000, prepareTimeLimitMs: 300 }, async (pool) => {
      const first = pool.run({
        module: example('wat/empty'),
        input: enc(''),
        taskId: enc('s'),
        limits: SMALL_LIMITS,
      })
      const preparer = pool.pids.at(-1)! // processes start on demand, the preparer last
      const o = await first
      assert.equal(o.status, 'invalid_module')
      assert.match(o.message ?? '', /^module took longer than 0\.3 s of CPU time to check and meter/)
      assert.equal(o.fuelUsed, 0n)
      // the stuck preparer is gone; a fresh one answers the next module (with the same verdict here)
      const again = await pool.run({
        module: example('wat/count'),
        input: enc(''),
        taskId: enc('s'),
        limits: SMALL_LIMITS,
      })
      assert.equal(again.status, 'invalid_module')
      assert.equal(alive(preparer), false)
      assert.equal(childrenOf(process.pid).length, 2)
    })
  })

  it('keeps the event loop free while a module is prepared: a cached task finishes first', async () => {
    await withPool({ workers: 1, slowPrepareMs: 1000 }, async (pool) => {
      const run = (name: string, key: string): Promise<Outcome> =>
        pool.run({
          module: example(name),
          moduleKey: key,
          input: enc('1'),
          taskId: enc(key),
          limits: SMALL_LIMITS,
        })
      assert.equal((await run('wat/empty', 'cached')).status, 'ok')
      const finished: string[] = []
      const slow = run('wat/count', 'new').then((o) => finished.push(`new:${o.status}`))
      const cached = run('wat/empty', 'cached').then((o) => finished.push(`cached:${o.status}`))
      await Promise.all([slow, cached])
      assert.deepEqual(finished, ['cached:ok', 'new:ok'])
    })
  })

  it("the issue's module (1,000,000 results × 1,000 functions) ends as invalid_module within the CPU time limit", async () => {
    // a CPU limit a heavily loaded machine still reaches within the wall-clock backstop
    await withPool({ workers: 1, prepareTimeLimitMs: 500 }, async (pool) => {
      const o = await pool.run({
        module: manyResultsModule(),
        input: enc(''),
        taskId: enc('r'),
        limits: SMALL_LIMITS,
      })
      assert.equal(o.status, 'invalid_module')
    })
  })
})
