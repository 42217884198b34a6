/**
 * Messages between the pool (the daemon's process) and its child processes, over Node's IPC
 * channel with structured-clone ("advanced") serialization, so bigint and Uint8Array pass as such.
 * A compiled WebAssembly.Module cannot cross a process boundary: the pool sends the rewritten
 * bytes once per worker and CID, and each worker compiles and caches them itself.
 */
import type { ExecuteLimits } from './execute.js'
import type { Outcome } from './outcome.js'
import type { RewrittenModule } from './rewrite.js'

/** Every child announces that it listens before the pool sends it anything. */
export interface Ready {
  type: 'ready'
}

/** Pool → task worker: run one task. */
export interface ToWorker {
  id: number
  /** Cache key of the module (its CID). */
  key: string
  /** Present when the worker does not hold `key` yet (the pool mirrors each worker's cache). */
  module?: RewrittenModule
  input: Uint8Array
  seed: Uint8Array
  limits: ExecuteLimits
  wantProgress: boolean
}

/** Task worker → pool. */
export type ToPool =
  | Ready
  | { type: 'progress'; id: number; permille: number }
  | { type: 'done'; id: number; outcome: Outcome }
  | { type: 'failed'; id: number; name: string; message: string }

/** Pool → preparer: check, meter and validate one untrusted module. */
export interface ToPreparer {
  id: number
  bytes: Uint8Array
  maxModuleBytes?: number
}

/** Preparer → pool. `invalid` carries an InvalidModuleError's message ("The module …"). */
export type FromPreparer =
  | Ready
  | { type: 'prepared'; id: number; module: RewrittenModule }
  | { type: 'invalid'; id: number; message: string }
  | { type: 'failed'; id: number; name: string; message: string }
