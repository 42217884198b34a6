/**
 * The pool's side of the preparer process: a queue of untrusted modules checked and metered one
 * at a time in a sandboxed child, each within a limit of CPU time. A module that overruns it is
 * `invalid_module` and the child is killed and replaced, so a pathological module costs an
 * executor at most the limit in CPU and never stalls the daemon's event loop.
 *
 * The limit counts the child's CPU time, not the wall clock, so a busy machine does not turn a
 * valid module into an invalid one; a wall-clock backstop ({@link PREPARE_WALL_CLOCK_MS}) ends a
 * check the machine is too busy to finish, with no verdict (WorkerFailedError). Where /proc is
 * missing, the wall clock stands in for CPU time.
 */
import type { FromPreparer, ToPreparer } from './protocol.js'
import { InvalidModuleError } from './parse.js'
import type { RewrittenModule } from './rewrite.js'
import { type SandboxedChild, type SandboxPlan, spawnSandboxed } from './sandbox.js'
import { WorkerFailedError } from './errors.js'

/**
 * How long checking and metering one module may take. A valid module of the largest size accepted
 * (8 MiB) takes a few hundred milliseconds on a slow machine, so only a hostile module reaches it.
 */
export const PREPARE_TIME_LIMIT_MS = 2_000
/** A check still running after this long (wall clock) ends without a verdict. */
export const PREPARE_WALL_CLOCK_MS = 30_000

export interface PreparerInit {
  plan: SandboxPlan
  /** @default PREPARE_TIME_LIMIT_MS */
  timeLimitMs?: number
  /** Testing aid: the child spins this long before each module, like a pathological one. */
  delayMs?: number
}

/** The shortest wait before looking at the child's CPU time again. */
const MIN_RECHECK_MS = 20

interface Pending {
  msg: ToPreparer
  resolve: (m: RewrittenModule) => void
  reject: (e: Error) => void
}

export class Preparer {
  readonly #init: PreparerInit
  readonly #timeLimitMs: number
  readonly #queue: Pending[] = []
  #proc?: SandboxedChild
  #ready = false
  #current?: Pending
  #timer?: NodeJS.Timeout
  #running = false
  #nextId = 1
  /** Children killed but not yet exited; stop() waits for them. */
  readonly #dying = new Set<Promise<void>>()

  constructor(init: PreparerInit) {
    this.#init = init
    this.#timeLimitMs = init.timeLimitMs ?? PREPARE_TIME_LIMIT_MS
  }

  /** The child starts with the first module. */
  start(): void {
    this.#running = true
  }

  /** Kills the child; pending modules reject with `err`. Resolves once the child has exited. */
  async stop(err: Error): Promise<void> {
    this.#running = false
    clearTimeout(this.#timer)
    for (const p of this.#queue.splice(0)) p.reject(err)
    this.#current?.reject(err)
    this.#current = undefined
    const proc = this.#proc
    this.#proc = undefined
    if (proc) this.#kill(proc)
    await Promise.all(this.#dying)
  }

  #kill(proc: SandboxedChild): Promise<void> {
    const dead = proc.kill()
    this.#dying.add(dead)
    void dead.then(() => this.#dying.delete(dead))
    return dead
  }

  get pid(): number | undefined {
    return this.#proc?.child.pid
  }

  /** Rewritten module; rejects with InvalidModuleError (a verdict) or WorkerFailedError (none). */
  prepare(bytes: Uint8Array, maxModuleBytes?: number): Promise<RewrittenModule> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ msg: { id: this.#nextId++, bytes, maxModuleBytes }, resolve, reject })
      // after a child that could not start, the next module tries a fresh one
      if (!this.#proc && this.#running && this.#dying.size === 0) this.#spawn()
      this.#next()
    })
  }

  #spawn(): void {
    const args = this.#init.delayMs ? [`--delay-ms=${this.#init.delayMs}`] : []
    const proc = spawnSandboxed(this.#init.plan, 'prepare-worker', args)
    this.#proc = proc
    this.#ready = false
    proc.child.on('message', (m: FromPreparer) => this.#onMessage(proc, m))
    proc.child.once('exit', (code, signal) => {
      if (this.#proc !== proc) return // killed on purpose
      this.#proc = undefined
      const why = proc.stderrTail() || `code ${code ?? signal}`
      this.#finish(new WorkerFailedError(`the module preparer exited (${why})`))
      // A child that never got ready would fail again at once: fail what waits; the next module
      // tries a fresh child.
      if (this.#running && this.#ready) this.#spawn()
      else
        for (const p of this.#queue.splice(0))
          p.reject(new WorkerFailedError(`the module preparer could not start (${why})`))
    })
  }

  #onMessage(proc: SandboxedChild, m: FromPreparer): void {
    if (this.#proc !== proc) return
    if (m.type === 'ready') {
      this.#ready = true
      this.#next()
      return
    }
    const p = this.#current
    if (!p || p.msg.id !== m.id) return
    if (m.type === 'prepared') this.#finish(undefined, m.module)
    else if (m.type === 'invalid') this.#finish(new InvalidModuleError(m.message))
    else this.#finish(new WorkerFailedError(`the module preparer failed: ${m.name}: ${m.message}`))
    this.#next()
  }

  #next(): void {
    if (this.#current || !this.#ready || !this.#proc) return
    const p = this.#queue.shift()
    if (!p) return
    this.#current = p
    const proc = this.#proc
    const startMs = performance.now()
    const startCpuMs = proc.cpuMs()
    const check = (): void => {
      const wallMs = performance.now() - startMs
      const cpu = proc.cpuMs()
      const usedMs = cpu === undefined || startCpuMs === undefined ? wallMs : cpu - startCpuMs
      if (usedMs >= this.#timeLimitMs) this.#overrun(proc, this.#tooSlow())
      else if (wallMs >= PREPARE_WALL_CLOCK_MS) this.#overrun(proc, this.#tooBusy())
      else this.#timer = setTimeout(check, Math.max(MIN_RECHECK_MS, this.#timeLimitMs - usedMs))
    }
    this.#timer = setTimeout(check, this.#timeLimitMs)
    proc.child.send(p.msg)
  }

  #tooSlow(): InvalidModuleError {
    const s = this.#timeLimitMs / 1000
    return new InvalidModuleError(
      `took longer than ${s} s of CPU time to check and meter (the limit is ${s} s, far above what any valid module needs); simplify the module or split the task`,
    )
  }

  #tooBusy(): WorkerFailedError {
    return new WorkerFailedError(
      `checking the module took more than ${PREPARE_WALL_CLOCK_MS / 1000} s on this busy machine; no verdict`,
    )
  }

  #overrun(proc: SandboxedChild, err: Error): void {
    this.#finish(err)
    this.#proc = undefined
    void this.#kill(proc).then(() => {
      if (this.#running) this.#spawn()
    })
  }

  #finish(err?: Error, module?: RewrittenModule): void {
    clearTimeout(this.#timer)
    const p = this.#current
    this.#current = undefined
    if (!p) return
    if (err) p.reject(err)
    else p.resolve(module!)
  }
}
