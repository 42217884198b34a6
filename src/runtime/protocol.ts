/** Messages between the pool (main thread) and its workers. */
import type { ExecuteLimits } from './execute.js'
import type { Outcome } from './outcome.js'
import type { PreparedModule } from './prepare.js'

export interface ToWorker {
  id: number
  prepared: PreparedModule
  input: Uint8Array
  seed: Uint8Array
  limits: ExecuteLimits
  wantProgress: boolean
}

export type ToPool =
  | { type: 'progress'; id: number; permille: number }
  | { type: 'done'; id: number; outcome: Outcome }
  | { type: 'failed'; id: number; name: string; message: string }
