/** Per-task resource limits, and their defaults. */

/** What a single task may consume. Everything except `wallClockMs` is part of the task's definition. */
export interface TaskLimits {
  /** Fuel: about one unit per executed WebAssembly instruction (see meter.ts). */
  fuel: bigint
  /** Linear memory cap, rounded down to whole 64 KiB pages. */
  memoryBytes: number
  /**
   * Largest output the task may write; beyond it the outcome is `output_too_large`. The output
   * is also bounded by `memoryBytes` and by {@link MAX_OUTPUT_BYTES}, see {@link outputLimit}.
   */
  maxOutputBytes: number
  /**
   * Backstop for a runaway worker; metered code should never reach it. Not part of the task's
   * definition: a task that hits it has no outcome (the run rejects with WallClockExceededError).
   * @default derived from fuel, see {@link defaultWallClockMs}
   */
  wallClockMs?: number
}

export const MIB = 1024 * 1024
/** Modules larger than this are `invalid_module`. */
export const MAX_MODULE_BYTES = 8 * MIB
/**
 * No task writes more output than this, whatever its `maxOutputBytes`: a result is stored and
 * fetched as one blob, and blobs are at most 64 MiB (blobs/store.ts MAX_BLOB_BYTES).
 */
export const MAX_OUTPUT_BYTES = 64 * MIB
/** The largest fuel limit accepted (keeps fuel arithmetic inside a signed 64-bit global). */
export const MAX_FUEL = 2n ** 62n

export const DEFAULT_LIMITS: Readonly<TaskLimits> = Object.freeze({
  fuel: 10_000_000_000n,
  memoryBytes: 256 * MIB,
  maxOutputBytes: 16 * MIB,
})

/**
 * The output a task may write: the smallest of its `maxOutputBytes`, its `memoryBytes` (output
 * is held by the executor while the task runs, so it counts like memory: a task never costs its
 * executor more than twice its memory limit) and {@link MAX_OUTPUT_BYTES}. Deterministic, since
 * all three are part of the task's definition; `why` completes "output exceeds …".
 */
export function outputLimit(l: Pick<TaskLimits, 'maxOutputBytes' | 'memoryBytes'>): {
  bytes: number
  why: string
} {
  if (l.maxOutputBytes <= l.memoryBytes && l.maxOutputBytes <= MAX_OUTPUT_BYTES)
    return { bytes: l.maxOutputBytes, why: `the limit of ${l.maxOutputBytes} bytes` }
  if (l.memoryBytes <= MAX_OUTPUT_BYTES)
    return { bytes: l.memoryBytes, why: `the task's memory limit of ${l.memoryBytes} bytes` }
  return { bytes: MAX_OUTPUT_BYTES, why: `the largest output plusone accepts (${MAX_OUTPUT_BYTES} bytes)` }
}

/** Slowest fuel rate we assume before declaring a worker runaway (real rates are ~20× higher). */
const MIN_FUEL_PER_MS = 50_000n
const WALL_CLOCK_FLOOR_MS = 2_000

/** setTimeout's largest delay (about 24.8 days). */
export const MAX_WALL_CLOCK_MS = 2 ** 31 - 1

export function defaultWallClockMs(fuel: bigint): number {
  return Math.min(MAX_WALL_CLOCK_MS, WALL_CLOCK_FLOOR_MS + Number(fuel / MIN_FUEL_PER_MS))
}

/** A limit is out of range; the message names it. */
export class InvalidLimitsError extends RangeError {
  static override name = 'InvalidLimitsError'
  constructor(message: string) {
    super(message)
    this.name = 'InvalidLimitsError'
  }
}

export function checkLimits(l: TaskLimits): void {
  if (typeof l.fuel !== 'bigint' || l.fuel <= 0n || l.fuel > MAX_FUEL)
    throw new InvalidLimitsError(`fuel must be between 1 and 2^62, got ${l.fuel}`)
  if (!Number.isSafeInteger(l.memoryBytes) || l.memoryBytes < 0 || l.memoryBytes > 4 * 1024 * MIB)
    throw new InvalidLimitsError(`memoryBytes must be between 0 and 4 GiB, got ${l.memoryBytes}`)
  if (!Number.isSafeInteger(l.maxOutputBytes) || l.maxOutputBytes < 0 || l.maxOutputBytes > 1024 * MIB)
    throw new InvalidLimitsError(`maxOutputBytes must be between 0 and 1 GiB, got ${l.maxOutputBytes}`)
  if (l.wallClockMs !== undefined && !(l.wallClockMs > 0 && l.wallClockMs <= MAX_WALL_CLOCK_MS))
    throw new InvalidLimitsError(
      `wallClockMs must be between 1 and ${MAX_WALL_CLOCK_MS}, got ${l.wallClockMs}`,
    )
}
