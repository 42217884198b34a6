/**
 * Pool benchmark: the sandboxed worker-process pool against a worker-thread pool as on main
 * before issue 9 (the baseline is rebuilt here: one thread, the compiled module posted to it).
 *
 *   node --import ./dist/src/polyfill.js dist/bench/pool.js      (after npm run build)
 *   node --import tsx bench/pool.ts                               (from sources)
 *
 * 1. an empty task through the pool, warm (target < 1 ms per task)
 * 2. start → first result (process spawn, module preparation, compile in the worker)
 * 3. a runaway task killed at its wall clock → the next task's result (kill + respawn)
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { RuntimePool, type TaskLimits } from '../src/runtime/index.js'
import { type PreparedModule, prepareModule } from '../src/runtime/prepare.js'

const root = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '..' : '../..', import.meta.url))
const example = (name: string) => new Uint8Array(readFileSync(join(root, 'examples', 'build', name)))
const LIMITS: TaskLimits = { fuel: 1n << 40n, memoryBytes: 16 << 20, maxOutputBytes: 1 << 20 }
const TASKS = 1000
const REPS = 5
const empty = example('wat/empty.wasm')
const spin = example('wat/infinite_loop.wasm')

/** The pre-issue-9 design: a worker thread; the compiled module is posted with every task. */
class ThreadBaseline {
  readonly worker: Worker
  constructor() {
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js'
    const execUrl = JSON.stringify(new URL(`../src/runtime/execute.${ext}`, import.meta.url).href)
    const boot = `(${ext === 'ts' ? "import('tsx/esm/api').then((t) => t.register())" : 'Promise.resolve()'})
      .then(() => import(${execUrl}))
      .then(({ execute }) => {
        const { parentPort } = require('node:worker_threads')
        parentPort.on('message', (m) => {
          const o = execute(m)
          parentPort.postMessage(o, [o.output.buffer])
        })
        parentPort.postMessage('ready')
      })`
    this.worker = new Worker(boot, { eval: true, resourceLimits: { stackSizeMb: 16 } })
  }
  ready(): Promise<void> {
    return new Promise((r) => this.worker.once('message', () => r()))
  }
  run(prepared: PreparedModule): Promise<unknown> {
    return new Promise((resolve) => {
      this.worker.once('message', resolve)
      this.worker.postMessage({
        prepared,
        input: new Uint8Array(0),
        seed: new Uint8Array(32),
        limits: LIMITS,
      })
    })
  }
}

async function bestPerTask(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await fn()
  let min = Number.POSITIVE_INFINITY
  for (let r = 0; r < REPS; r++) {
    const t = performance.now()
    for (let i = 0; i < TASKS; i++) await fn()
    min = Math.min(min, performance.now() - t)
  }
  return min / TASKS
}

const rows: string[][] = []
const row = (what: string, base: number, ours: number, note = '') =>
  rows.push([what, `${base.toFixed(3)} ms`, `${ours.toFixed(3)} ms`, `${(ours / base).toFixed(2)}×`, note])

// 1 + 2, baseline
let t = performance.now()
const thread = new ThreadBaseline()
await thread.ready()
const prepared = await prepareModule(empty)
await thread.run(prepared)
const threadFirst = performance.now() - t
const threadWarm = await bestPerTask(() => thread.run(prepared))
await thread.worker.terminate()

// 1 + 2, ours
t = performance.now()
const pool = new RuntimePool({ workers: 1 })
pool.start()
const req = {
  module: empty,
  moduleKey: 'empty',
  input: new Uint8Array(0),
  taskId: new Uint8Array(1),
  limits: LIMITS,
}
await pool.run(req)
const poolFirst = performance.now() - t
const poolWarm = await bestPerTask(() => pool.run(req))

// 3: a runaway task killed at its 200 ms wall clock, then the next result (best of REPS)
let killMin = Number.POSITIVE_INFINITY
for (let r = 0; r < REPS; r++) {
  await pool
    .run({ ...req, module: spin, moduleKey: 'spin', limits: { ...LIMITS, wallClockMs: 200 } })
    .catch(() => {})
  t = performance.now()
  await pool.run(req)
  killMin = Math.min(killMin, performance.now() - t)
}
await pool.stop()

row('empty task, warm (per task)', threadWarm, poolWarm, 'target < 1 ms')
row('start → first result', threadFirst, poolFirst, 'spawn + prepare + compile')
rows.push([
  'kill at wall clock → next result',
  'n/a',
  `${killMin.toFixed(1)} ms`,
  '',
  'respawn after SIGKILL',
])

console.log(`node ${process.version}; sandbox: ${pool.sandbox}; best of ${REPS}`)
const header = ['workload', 'threads (main)', 'processes (ours)', 'ratio', 'note']
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')
console.log(fmt(header))
for (const r of rows) console.log(fmt(r))
