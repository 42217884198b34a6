/**
 * @packageDocumentation
 *
 * The sandbox: runs untrusted WebAssembly deterministically, with metered fuel, bounded memory,
 * output and call depth, on Node's own engine in a pool of worker processes. Imports no networking.
 *
 * ## Isolation and stopping
 *
 * Tasks run in child processes (sandbox.ts) holding nothing of the node's: an empty environment,
 * Node's permission model (read access to the runtime's own scripts only; no writes, child
 * processes, worker threads or addons), stdin closed, and — when the daemon runs as root — the
 * `nobody` user. A task past its wall-clock backstop, or aborted, has its process SIGKILLed and
 * replaced, so it stops even inside a long engine builtin; `RuntimePool.stop()` kills every
 * child and resolves once they have exited. Untrusted modules are checked and metered in a
 * separate preparer process, each within `PREPARE_TIME_LIMIT_MS` (2 s; else `invalid_module`),
 * so a pathological module never stalls the daemon's event loop.
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
 *   that copy bytes and bulk memory operations charge 1 per 4 bytes before they copy,
 *   memory.grow 100 plus, when granted, 16,384 per new page and 4,096 per page held, host calls
 *   and calls into metered functions a fixed fee
 *   (bench/runtime.ts prints the calibration: fuel per ms across kinds of work). `out_of_fuel`
 *   reports the whole limit as used; a `trap` reports the fuel charged up to the last call
 *   boundary before it (a host function that traps — abort — is a call boundary).
 * - The NaN results of float arithmetic are canonicalised (as wasmtime's deterministic mode
 *   does), so x86 and ARM agree; the bit-exact operators (neg, abs, copysign, reinterpret,
 *   loads, stores) behave exactly as WebAssembly defines them.
 * - Call depth is bounded by a virtual stack budget in the rewritten module; V8's stack limit
 *   (which varies by machine) never decides an outcome — if it ever did, the run rejects with
 *   {@link WorkerFailedError} instead of producing an outcome.
 * - The only imports are the host ABI below; there is no clock, randomness, file or network.
 * - The wall-clock backstop is not part of the outcome: a task that reaches it rejects with
 *   {@link WallClockExceededError} and must not be claimed.
 * - The prepare time limit (2 s) is the one verdict that depends on a machine's speed: it is set
 *   well above what any module within the size limit needs (tens to hundreds of milliseconds),
 *   so only a module built to be slow to check ends as `invalid_module` by it.
 *
 * ## Host ABI (import module `plusone`)
 *
 * `input_len() -> i32`; `input_read(dst, offset, len) -> i32` (bytes copied);
 * `output_write(src, len)` (appends; past the output limit → `output_too_large`, see
 * {@link outputLimit}); `seed(dst)` (32 bytes
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
 * A declared maximum above the task's `memoryBytes` is clamped to it (the module is accepted).
 * `memory.grow` past the task's limit or the module's declared maximum returns -1, as
 * WebAssembly defines it; a trap after a refused grow (an allocator giving up) is reported as
 * `out_of_memory`, and so is an initial size above the limit, before any code runs.
 *
 * ## Output
 *
 * The output limit is the smallest of `maxOutputBytes`, `memoryBytes` and 64 MiB
 * ({@link MAX_OUTPUT_BYTES}, the largest blob); output is refused before it is held.
 *
 * ## Module limits
 *
 * Counts and sizes are bounded by V8's own limits (types, functions, imports, exports, globals,
 * data segments, locals, params/results ≤ 1000, function size, br_table), checked before any
 * rewriting, so refusing any module takes time linear in its size.
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
  MAX_OUTPUT_BYTES,
  outputLimit,
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
export { PoolStoppedError, WallClockExceededError, WorkerFailedError } from './errors.js'
export {
  deriveSeed,
  PREPARE_TIME_LIMIT_MS,
  type RunRequest,
  RuntimePool,
  type RuntimePoolInit,
} from './pool.js'

export type ValidationResult = { ok: true } | { ok: false; error: InvalidModuleError }

/**
 * Checks a module against the feature set, the host ABI and the size limit, and that its metered
 * form is valid WebAssembly. Synchronous, on the caller's thread, without a time limit: for a
 * module the user supplied (e.g. before submitting it), not one from the network — executors
 * check those through {@link RuntimePool.run}. Does not compile. The error's message completes the
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
