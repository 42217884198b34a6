import { anySignal } from 'any-signal'

/**
 * Runs `fn` with a signal that aborts when `parent` does or after `ms`, whichever comes first, and
 * lets go of `parent` when `fn` is done.
 *
 * Not `AbortSignal.any([parent, AbortSignal.timeout(ms)])`: on Node 20 the timeout signal inside
 * it can be garbage-collected before it fires, and the operation then waits for `parent` alone —
 * for ever, when `parent` is a long-lived shutdown signal (test/abort.test.ts shows it).
 */
export async function withTimeout<T>(
  parent: AbortSignal | undefined,
  ms: number,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const signal = anySignal([parent, AbortSignal.timeout(ms)])
  try {
    return await fn(signal)
  } finally {
    signal.clear()
  }
}
