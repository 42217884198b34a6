/**
 * RuntimePool: a fixed number of worker threads running tasks one at a time each, a queue in
 * front of them, and an LRU cache of compiled (metered) modules keyed by CID. Modules are
 * validated, rewritten and compiled on the main thread (compilation is asynchronous in V8) and
 * the compiled module is shared with workers by postMessage, so each CID compiles once per pool.
 *
 * A worker that crashes, overruns its wall clock or runs an aborted task is terminated and
 * replaced; the pool keeps serving.
 */
import { createHash } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { checkLimits, defaultWallClockMs, type TaskLimits } from './limits.js'
import { STACK_BUDGET_BYTES } from './meter-support.js'
import { invalidModuleOutcome, type Outcome } from './outcome.js'
import { InvalidModuleError } from './parse.js'
import { type PreparedModule, prepareModule } from './prepare.js'
import type { ToPool, ToWorker } from './protocol.js'

export interface RuntimePoolInit {
  /** Worker threads, normally the operator's `--cpus`. */
  workers: number
  /** Compiled modules kept, by CID. @default 32 */
  cacheEntries?: number
  /** @default MAX_MODULE_BYTES */
  maxModuleBytes?: number
}

export interface RunRequest {
  module: Uint8Array
  /** Cache key (the module's CID string). @default the module's sha256 in hex */
  moduleKey?: string
  input: Uint8Array
  /** The task id; the 32 bytes of `plusone.seed` are derived from it. */
  taskId: Uint8Array
  limits: TaskLimits
  signal?: AbortSignal
  /** Progress the task reports, 0–1000. Never affects the outcome. */
  onProgress?: (permille: number) => void
}

/** The pool was stopped (or never started) while a task wanted it. */
export class PoolStoppedError extends Error {
  static override name = 'PoolStoppedError'
  constructor(message = 'the runtime pool is not running') {
    super(message)
    this.name = 'PoolStoppedError'
  }
}

/** The task ran past its wall-clock backstop; its worker was replaced. There is no outcome to claim. */
export class WallClockExceededError extends Error {
  static override name = 'WallClockExceededError'
  constructor(ms: number) {
    super(`the task ran longer than its ${ms} ms wall-clock backstop and was stopped`)
    this.name = 'WallClockExceededError'
  }
}

/** The worker died, or the engine (not the task) ended the run. There is no outcome to claim. */
export class WorkerFailedError extends Error {
  static override name = 'WorkerFailedError'
  constructor(message: string) {
    super(message)
    this.name = 'WorkerFailedError'
  }
}

/** Real thread stack per worker: 8× the rewriter's virtual budget, so V8's limit never decides. */
const WORKER_STACK_MB = Math.ceil((STACK_BUDGET_BYTES * 8) / (1024 * 1024))
const DEFAULT_CACHE_ENTRIES = 32
const SEED_DOMAIN = new TextEncoder().encode('plusone/seed/v1\0')

export function deriveSeed(taskId: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(SEED_DOMAIN).update(taskId).digest())
}

interface Job {
  id: number
  msg: ToWorker
  wallClockMs: number
  resolve: (o: Outcome) => void
  reject: (e: Error) => void
  onProgress?: (permille: number) => void
  signal?: AbortSignal
  onAbort?: () => void
}

interface Slot {
  worker: Worker
  job?: Job
  timer?: NodeJS.Timeout
}

function newWorker(): Worker {
  const options = { resourceLimits: { stackSizeMb: WORKER_STACK_MB } }
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url), options)
  // Running from sources under tsx (development and tests): register tsx inside the thread first.
  const entry = JSON.stringify(new URL('./worker.ts', import.meta.url).href)
  const boot = `import('tsx/esm/api').then((t) => { t.register(); return import(${entry}) })`
  return new Worker(boot, { ...options, eval: true })
}

export class RuntimePool {
  private readonly size: number
  private readonly cacheEntries: number
  private readonly maxModuleBytes?: number
  private readonly slots: Slot[] = []
  private readonly queue: Job[] = []
  private readonly cache = new Map<string, Promise<PreparedModule>>()
  private running = false
  private nextId = 1

  constructor(init: RuntimePoolInit) {
    if (!Number.isInteger(init.workers) || init.workers < 1)
      throw new RangeError('workers must be a positive integer')
    this.size = init.workers
    this.cacheEntries = init.cacheEntries ?? DEFAULT_CACHE_ENTRIES
    this.maxModuleBytes = init.maxModuleBytes
  }

  start(): void {
    if (this.running) return
    this.running = true
    for (let i = 0; i < this.size; i++) this.slots.push(this.spawn())
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    const err = new PoolStoppedError('the runtime pool stopped before the task finished')
    for (const job of this.queue.splice(0)) this.settle(job, err)
    const slots = this.slots.splice(0)
    await Promise.all(
      slots.map((s) => {
        if (s.job) this.settle(s.job, err)
        clearTimeout(s.timer)
        s.worker.removeAllListeners()
        return s.worker.terminate()
      }),
    )
  }

  /** Workers currently alive (for tests and metrics). */
  get workers(): number {
    return this.slots.length
  }

  /**
   * Runs a task. Resolves with its deterministic outcome (including `invalid_module`); rejects
   * only when there is no outcome to claim: AbortError, WallClockExceededError,
   * WorkerFailedError, PoolStoppedError, or InvalidLimitsError for bad limits.
   */
  async run(req: RunRequest): Promise<Outcome> {
    if (!this.running) throw new PoolStoppedError()
    checkLimits(req.limits)
    req.signal?.throwIfAborted()
    let prepared: PreparedModule
    try {
      prepared = await this.prepared(req.module, req.moduleKey)
    } catch (err) {
      if (err instanceof InvalidModuleError) return invalidModuleOutcome(`module ${err.message}`)
      throw err
    }
    req.signal?.throwIfAborted()
    if (!this.running) throw new PoolStoppedError()
    const { fuel, memoryBytes, maxOutputBytes } = req.limits
    return new Promise<Outcome>((resolve, reject) => {
      const id = this.nextId++
      const job: Job = {
        id,
        msg: {
          id,
          prepared,
          input: req.input,
          seed: deriveSeed(req.taskId),
          limits: { fuel, memoryBytes, maxOutputBytes },
          wantProgress: req.onProgress !== undefined,
        },
        wallClockMs: req.limits.wallClockMs ?? defaultWallClockMs(fuel),
        resolve,
        reject,
        onProgress: req.onProgress,
        signal: req.signal,
      }
      if (req.signal) {
        job.onAbort = () => this.abort(job)
        req.signal.addEventListener('abort', job.onAbort, { once: true })
      }
      this.queue.push(job)
      this.dispatch()
    })
  }

  private prepared(module: Uint8Array, key?: string): Promise<PreparedModule> {
    const k = key ?? createHash('sha256').update(module).digest('hex')
    let p = this.cache.get(k)
    if (p) {
      this.cache.delete(k)
      this.cache.set(k, p)
      return p
    }
    p = prepareModule(module, { maxModuleBytes: this.maxModuleBytes })
    this.cache.set(k, p)
    // Invalid modules stay cached too (their verdict is deterministic); engine failures do not.
    p.catch((err) => {
      if (!(err instanceof InvalidModuleError)) this.cache.delete(k)
    })
    while (this.cache.size > this.cacheEntries) this.cache.delete(this.cache.keys().next().value as string)
    return p
  }

  private spawn(): Slot {
    const worker = newWorker()
    const slot: Slot = { worker }
    worker.unref()
    worker.on('message', (m: ToPool) => this.onMessage(slot, m))
    worker.on('error', (err) =>
      this.replace(slot, new WorkerFailedError(`the worker crashed: ${err.message}`)),
    )
    worker.on('exit', (code) =>
      this.replace(slot, new WorkerFailedError(`the worker exited with code ${code}`)),
    )
    return slot
  }

  private onMessage(slot: Slot, m: ToPool): void {
    const job = slot.job
    if (!job || job.id !== m.id) return
    if (m.type === 'progress') {
      job.onProgress?.(m.permille)
      return
    }
    slot.job = undefined
    clearTimeout(slot.timer)
    if (m.type === 'done') {
      const o = m.outcome
      this.settle(job, undefined, {
        ...o,
        output: new Uint8Array(o.output),
        outputHash: new Uint8Array(o.outputHash),
      })
    } else {
      this.settle(job, new WorkerFailedError(`${m.name}: ${m.message}`))
    }
    this.dispatch()
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.job) continue
      const job = this.queue.shift()
      if (!job) return
      slot.job = job
      slot.timer = setTimeout(
        () => this.replace(slot, new WallClockExceededError(job.wallClockMs)),
        job.wallClockMs,
      )
      slot.worker.postMessage(job.msg)
    }
  }

  private abort(job: Job): void {
    const queued = this.queue.indexOf(job)
    if (queued >= 0) {
      this.queue.splice(queued, 1)
      this.settle(job, abortReason(job.signal))
      return
    }
    const slot = this.slots.find((s) => s.job === job)
    if (slot) this.replace(slot, abortReason(job.signal))
  }

  /** Terminates a slot's worker, fails its job, and starts a fresh worker in its place. */
  private replace(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot)
    if (i < 0) return
    clearTimeout(slot.timer)
    slot.worker.removeAllListeners()
    slot.worker.on('error', () => {})
    void slot.worker.terminate()
    const job = slot.job
    slot.job = undefined
    if (job) this.settle(job, err)
    if (this.running) {
      this.slots[i] = this.spawn()
      this.dispatch()
    } else {
      this.slots.splice(i, 1)
    }
  }

  private settle(job: Job, err?: Error, outcome?: Outcome): void {
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort)
    if (err) job.reject(err)
    else job.resolve(outcome!)
  }
}

function abortReason(signal?: AbortSignal): Error {
  const r: unknown = signal?.reason
  if (r instanceof Error) return r
  const e = new Error('the task was aborted')
  e.name = 'AbortError'
  return e
}
