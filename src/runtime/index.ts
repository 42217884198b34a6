/**
 * @packageDocumentation
 *
 * The sandbox: runs untrusted WebAssembly deterministically, with metered fuel, bounded memory,
 * output and call depth, on Node's own engine in a `worker_threads` pool. Imports no networking.
 *
 * ## Determinism contract
 *
 * For the same module bytes, input, task id and limits (`fuel`, `memoryBytes`,
 * `maxOutputBytes`), {@link RuntimePool.run} yields the same `status`, `code`, `fuelUsed` and
 * `output` on every run, in every worker and on every machine running this version. Replicas
 * compare {@link outcomeHash}, which covers exactly those fields (via the output's hash) and never
 * the engine's `message` text. What makes this hold:
 *
 * - Fuel is charged by a rewriter at function entries and loop headers, counting instructions of
 *   the original module (about one unit per instruction); it never depends on timing. Host calls
 *   that copy bytes (1 per 64 bytes), memory.grow (1024 per page) and bulk memory operations
 *   (1 per 64 bytes) charge for the bytes they touch. `out_of_fuel` reports the whole limit as
 *   used; a `trap` reports the fuel charged up to the last call boundary before it.
 * - NaN bits are canonicalised wherever a program could observe them (store, reinterpret,
 *   copysign), so x86 and ARM agree.
 * - Call depth is bounded by a virtual stack budget in the rewritten module; V8's stack limit
 *   (which varies by machine) never decides an outcome — if it ever did, the run rejects with
 *   {@link WorkerFailedError} instead of producing an outcome.
 * - The only imports are the host ABI below; there is no clock, randomness, file or network.
 * - The wall-clock backstop is not part of the outcome: a task that reaches it rejects with
 *   {@link WallClockExceededError} and must not be claimed.
 *
 * ## Host ABI (import module `plusone`)
 *
 * `input_len() -> i32`; `input_read(dst, offset, len) -> i32` (bytes copied);
 * `output_write(src, len)` (appends; past the limit → `output_too_large`); `seed(dst)` (32 bytes
 * derived from the task id); `progress(permille)` (reported, never affects the outcome); plus
 * `env.abort(msg, file, line, col)` for AssemblyScript (→ `trap`). The module exports `memory`
 * and `run() -> i32`: 0 is `ok`, anything else is `error` with that `code`.
 *
 * ## Feature set
 *
 * The MVP plus mutable-global export, sign extension, non-trapping float-to-int, bulk memory and
 * multi-value (what AssemblyScript enables by default). Everything else — threads/shared memory,
 * SIMD, memory64, multi-memory, exceptions, tail calls, reference types, GC — is
 * `invalid_module` with a sentence saying what to change. See features.ts.
 *
 * ## Memory
 *
 * A declared maximum above the task's `memoryBytes` is clamped to it (the module is accepted);
 * `memory.grow` beyond the limit ends the task as `out_of_memory` rather than returning -1; an
 * initial size above the limit is `out_of_memory` before any code runs.
 *
 * @example
 * ```ts
 * const pool = new RuntimePool({ workers: 2 })
 * pool.start()
 * const outcome = await pool.run({ module, input, taskId, limits: DEFAULT_LIMITS })
 * if (outcome.status === 'ok') use(outcome.output)
 * await pool.stop()
 * ```
 */
import { checkLimits, DEFAULT_LIMITS, type TaskLimits } from './limits.js'
import { InvalidModuleError } from './parse.js'
import { checkAndRewrite, type ValidateOptions, validateRewritten } from './prepare.js'
import { type RunRequest, RuntimePool } from './pool.js'
import type { Outcome } from './outcome.js'

export {
  checkLimits,
  DEFAULT_LIMITS,
  defaultWallClockMs,
  InvalidLimitsError,
  MAX_FUEL,
  MAX_MODULE_BYTES,
  type TaskLimits,
} from './limits.js'
export {
  type CanonicalOutcome,
  decodeOutcome,
  encodeOutcome,
  InvalidOutcomeEncodingError,
  type Outcome,
  OUTCOME_ENCODED_BYTES,
  type OutcomeStatus,
  outcomeHash,
} from './outcome.js'
export { InvalidModuleError } from './parse.js'
export type { ValidateOptions } from './prepare.js'
export {
  deriveSeed,
  PoolStoppedError,
  type RunRequest,
  RuntimePool,
  type RuntimePoolInit,
  WallClockExceededError,
  WorkerFailedError,
} from './pool.js'

export type ValidationResult = { ok: true } | { ok: false; error: InvalidModuleError }

/**
 * Checks a module against the feature set, the host ABI and the size limit, and that its metered
 * form is valid WebAssembly. Synchronous; does not compile. The error's message completes the
 * sentence "The module …" — e.g. "imports env.now: only the plusone host functions are available".
 */
export function validateModule(bytes: Uint8Array, opts: ValidateOptions = {}): ValidationResult {
  try {
    validateRewritten(bytes, checkAndRewrite(bytes, opts))
    return { ok: true }
  } catch (err) {
    if (err instanceof InvalidModuleError) return { ok: false, error: err }
    throw err
  }
}

/**
 * Runs one task in a fresh single-worker pool, exactly as an executor would (used by
 * `plusone run`). Limits default to {@link DEFAULT_LIMITS}.
 */
export async function runTask(
  req: Omit<RunRequest, 'limits'> & { limits?: Partial<TaskLimits> },
): Promise<Outcome> {
  const limits: TaskLimits = { ...DEFAULT_LIMITS, ...req.limits }
  checkLimits(limits)
  const pool = new RuntimePool({ workers: 1, cacheEntries: 1 })
  pool.start()
  try {
    return await pool.run({ ...req, limits })
  } finally {
    await pool.stop()
  }
}
