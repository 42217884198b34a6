/** Why a run has no outcome to claim. Callers branch on `err.name`. */

/** The pool was stopped (or never started) while a task wanted it. */
export class PoolStoppedError extends Error {
  static override name = 'PoolStoppedError'
  constructor(message = 'the runtime pool is not running') {
    super(message)
    this.name = 'PoolStoppedError'
  }
}

/** The task ran past its wall-clock backstop; its worker process was killed and replaced. */
export class WallClockExceededError extends Error {
  static override name = 'WallClockExceededError'
  constructor(ms: number) {
    super(`the task ran longer than its ${ms} ms wall-clock backstop and was stopped`)
    this.name = 'WallClockExceededError'
  }
}

/** A worker process died, or the engine (not the task) ended the run. */
export class WorkerFailedError extends Error {
  static override name = 'WorkerFailedError'
  constructor(message: string) {
    super(message)
    this.name = 'WorkerFailedError'
  }
}
