/**
 * RuntimePool: a fixed number of sandboxed worker processes running tasks one at a time each, a
 * queue in front of them, a preparer process that checks and meters untrusted modules within a
 * time limit, and an LRU cache of metered modules keyed by CID.
 *
 * Processes start on demand (the first task starts a worker while its module is prepared) and
 * then stay, so a node that never executes runs none.
 *
 * Stopping is guaranteed: a task that overruns its wall clock or is aborted has its process
 * killed with SIGKILL (which no builtin can delay), and a new process starts only once the old
 * one has exited, so at most `workers` task processes exist at any time. `stop()` kills them
 * all and resolves once they have exited.
 *
 * A WebAssembly.Module cannot cross a process boundary: the pool keeps the rewritten bytes and
 * sends them to a worker the first time it runs that CID; each worker compiles and caches them
 * in an LRU the pool mirrors (see lru.ts).
 */
import { createHash } from 'node:crypto'
import { PoolStoppedError, WallClockExceededError, WorkerFailedError } from './errors.js'
import { checkLimits, defaultWallClockMs, type TaskLimits } from './limits.js'
import { SizedLru } from './lru.js'
import { invalidModuleOutcome, type Outcome } from './outcome.js'
import { InvalidModuleError } from './parse.js'
import { Preparer } from './preparer.js'
import type { ToPool, ToWorker } from './protocol.js'
import type { RewrittenModule } from './rewrite.js'
import { planSandbox, type SandboxedChild, type SandboxPlan, spawnSandboxed } from './sandbox.js'

export { PoolStoppedError, WallClockExceededError, WorkerFailedError } from './errors.js'
export { PREPARE_TIME_LIMIT_MS } from './preparer.js'

export interface RuntimePoolInit {
  /** Worker processes, normally the operator's `--cpus`. */
  workers: number
  /** Metered modules kept, by CID, in the pool and in each worker. @default 32 */
  cacheEntries?: number
  /** @default MAX_MODULE_BYTES */
  maxModuleBytes?: number
  /** How long checking and metering one module may take before it is `invalid_module`. @default PREPARE_TIME_LIMIT_MS */
  prepareTimeLimitMs?: number
  /** Testing aid: the preparer blocks this long before each module, as a pathological one would. */
  slowPrepareMs?: number
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

const DEFAULT_CACHE_ENTRIES = 32
/** Bytes of metered module the pool keeps to send to workers. */
const CACHE_BYTES = 128 * 1024 * 1024
/** Bytes of metered module each worker keeps compiled (compiled code is a few times larger). */
const WORKER_CACHE_BYTES = 64 * 1024 * 1024
const SEED_DOMAIN = new TextEncoder().encode('plusone/seed/v1\0')

export function deriveSeed(taskId: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(SEED_DOMAIN).update(taskId).digest())
}

interface Job {
  id: number
  key: string
  module: RewrittenModule
  msg: Omit<ToWorker, 'key' | 'module'>
  wallClockMs: number
  resolve: (o: Outcome) => void
  reject: (e: Error) => void
  onProgress?: (permille: number) => void
  signal?: AbortSignal
  onAbort?: () => void
}

interface Slot {
  proc: SandboxedChild
  ready: boolean
  /** Being killed; its replacement starts when it has exited. */
  dying: boolean
  /** Mirror of the worker's module cache. */
  known: SizedLru
  job?: Job
  timer?: NodeJS.Timeout
}

export class RuntimePool {
  private readonly size: number
  private readonly cacheEntries: number
  private readonly maxModuleBytes?: number
  private readonly init: RuntimePoolInit
  private readonly slots: Slot[] = []
  private readonly queue: Job[] = []
  private readonly cache = new Map<string, Promise<RewrittenModule>>()
  private readonly cacheIndex: SizedLru
  private readonly dying = new Set<Promise<void>>()
  private plan?: SandboxPlan
  private preparer?: Preparer
  private running = false
  private nextId = 1

  constructor(init: RuntimePoolInit) {
    if (!Number.isInteger(init.workers) || init.workers < 1)
      throw new RangeError('workers must be a positive integer')
    this.init = init
    this.size = init.workers
    this.cacheEntries = init.cacheEntries ?? DEFAULT_CACHE_ENTRIES
    this.cacheIndex = new SizedLru(this.cacheEntries, CACHE_BYTES)
    this.maxModuleBytes = init.maxModuleBytes
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.plan ??= planSandbox()
    this.preparer = new Preparer({
      plan: this.plan,
      timeLimitMs: this.init.prepareTimeLimitMs,
      delayMs: this.init.slowPrepareMs,
    })
    this.preparer.start()
  }

  /** Kills every child process; resolves once all have exited. Pending runs reject with PoolStoppedError. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    const err = new PoolStoppedError('the runtime pool stopped before the task finished')
    for (const job of this.queue.splice(0)) this.settle(job, err)
    for (const slot of this.slots.splice(0)) this.kill(slot, err)
    await Promise.all([this.preparer?.stop(err), ...this.dying])
  }

  /** Task processes this pool may run at once (`workers` while it runs, else 0). */
  get workers(): number {
    return this.running ? this.size : 0
  }

  /** Process ids of the pool's live children (task workers and the preparer). */
  get pids(): number[] {
    const pids = this.slots.filter((s) => !s.dying).map((s) => s.proc.child.pid)
    return [...pids, this.preparer?.pid].filter((p): p is number => p !== undefined)
  }

  /** How the worker processes are confined on this machine, in one line (after start()). */
  get sandbox(): string | undefined {
    return this.plan?.description
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
    const key = req.moduleKey ?? createHash('sha256').update(req.module).digest('hex')
    this.startWorker() // starts while the module is prepared
    let module: RewrittenModule
    try {
      module = await this.prepared(req.module, key)
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
        key,
        module,
        msg: {
          id,
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

  private prepared(bytes: Uint8Array, key: string): Promise<RewrittenModule> {
    const hit = this.cache.get(key)
    if (hit) {
      this.cacheIndex.use(key)
      return hit
    }
    const p = this.preparer!.prepare(bytes, this.maxModuleBytes)
    this.remember(key, p, bytes.length)
    // Invalid modules stay cached too (their verdict is deterministic); failures do not.
    p.then(
      (m) => {
        if (this.cache.get(key) === p) this.remember(key, p, m.bytes.length)
      },
      (err) => {
        if (err instanceof InvalidModuleError || this.cache.get(key) !== p) return
        this.cache.delete(key)
        this.cacheIndex.delete(key)
      },
    )
    return p
  }

  private remember(key: string, p: Promise<RewrittenModule>, bytes: number): void {
    this.cache.set(key, p)
    for (const k of this.cacheIndex.add(key, bytes)) this.cache.delete(k)
  }

  /** Starts a worker process unless one is idle or starting, or all `workers` exist. */
  private startWorker(): void {
    if (!this.running || this.slots.length >= this.size) return
    if (this.slots.some((s) => !s.dying && (!s.ready || !s.job))) return
    this.slots.push(this.spawn())
  }

  private spawn(): Slot {
    const args = [`--cache-entries=${this.cacheEntries}`, `--cache-bytes=${WORKER_CACHE_BYTES}`]
    const proc = spawnSandboxed(this.plan!, 'worker', args)
    const slot: Slot = {
      proc,
      ready: false,
      dying: false,
      known: new SizedLru(this.cacheEntries, WORKER_CACHE_BYTES),
    }
    proc.child.on('message', (m: ToPool) => this.onMessage(slot, m))
    proc.child.once('exit', (code, signal) => {
      if (slot.dying) return
      const why = proc.stderrTail() || (signal ? `killed by ${signal}` : `exit code ${code}`)
      if (slot.ready) {
        this.replace(slot, new WorkerFailedError(`the worker process died (${why})`))
        return
      }
      // It would fail again at once: fail the work waiting for it; the next task tries again.
      const err = new WorkerFailedError(`the sandbox could not start a worker process (${why})`)
      for (const job of this.queue.splice(0)) this.settle(job, err)
      this.replace(slot, err)
    })
    return slot
  }

  private onMessage(slot: Slot, m: ToPool): void {
    if (slot.dying) return
    if (m.type === 'ready') {
      slot.ready = true
      this.dispatch()
      return
    }
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
      if (!slot.ready || slot.dying || slot.job) continue
      const job = this.queue.shift()
      if (!job) return
      slot.job = job
      slot.timer = setTimeout(
        () => this.replace(slot, new WallClockExceededError(job.wallClockMs)),
        job.wallClockMs,
      )
      // The worker applies the same use/add to its own cache, so the mirror stays exact.
      const held = slot.known.use(job.key)
      if (!held) slot.known.add(job.key, job.module.bytes.length)
      const msg: ToWorker = { ...job.msg, key: job.key, module: held ? undefined : job.module }
      slot.proc.child.send(msg)
    }
    // work still waiting: start processes for it, up to `workers` in all (dying ones included)
    let starting = this.slots.filter((s) => !s.ready && !s.dying).length
    while (this.running && this.queue.length > starting && this.slots.length < this.size) {
      this.slots.push(this.spawn())
      starting++
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

  /**
   * Kills a slot's process and fails its job; once the process has exited its slot is free, and
   * a fresh process starts if work is waiting.
   */
  private replace(slot: Slot, err: Error): void {
    if (slot.dying || !this.slots.includes(slot)) return
    void this.kill(slot, err).then(() => {
      const i = this.slots.indexOf(slot)
      if (i >= 0) this.slots.splice(i, 1)
      this.dispatch()
    })
  }

  private kill(slot: Slot, err: Error): Promise<void> {
    if (slot.dying) return slot.proc.exited
    slot.dying = true
    clearTimeout(slot.timer)
    const job = slot.job
    slot.job = undefined
    if (job) this.settle(job, err)
    const dead = slot.proc.kill()
    this.dying.add(dead)
    void dead.then(() => this.dying.delete(dead))
    return dead
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
