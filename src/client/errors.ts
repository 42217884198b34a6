/**
 * Why a call to the daemon failed, one class per cause, so a caller can branch on `err.name`
 * and a person reads a sentence that says what to do next.
 */

/** No `api.json` in the data directory: no daemon has been started for it (or it stopped cleanly). */
export class DaemonNotRunningError extends Error {
  static name = 'DaemonNotRunningError'
  constructor(readonly dataDir: string) {
    super(
      `no plusone daemon is running for ${dataDir} (start one with: plusone daemon --data-dir ${dataDir})`,
    )
    this.name = 'DaemonNotRunningError'
  }
}

/** `api.json` names an address where nothing answers a connection (refused, reset, unreachable). */
export class DaemonUnreachableError extends Error {
  static name = 'DaemonUnreachableError'
  constructor(
    readonly url: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'DaemonUnreachableError'
  }
}

/** The daemon accepted the connection (or the connection hung) but sent no answer in time. */
export class DaemonTimeoutError extends Error {
  static name = 'DaemonTimeoutError'
  constructor(
    readonly url: string,
    readonly timeoutMs: number,
  ) {
    super(`the daemon at ${url} did not answer within ${formatSeconds(timeoutMs)}`)
    this.name = 'DaemonTimeoutError'
  }
}

/** The daemon answered with an HTTP error; `status` is its code, the message the daemon's own. */
export class ApiError extends Error {
  static name = 'ApiError'
  constructor(
    readonly status: number,
    message: string,
    /** The error's name as the daemon reported it (e.g. `UnknownTaskError`), if it did. */
    readonly remoteName?: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/** `api.json` exists but cannot be used (not JSON, no url or token). */
export class ApiInfoError extends Error {
  static name = 'ApiInfoError'
  constructor(message: string) {
    super(message)
    this.name = 'ApiInfoError'
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`
}
