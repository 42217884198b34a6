/** Verdict on one executor of one task, the basis of its settlement receipt. */
export type Verdict = 'accepted' | 'rejected' | 'timed_out'

/**
 * - `new`: constructed, `start()` not yet called.
 * - `collecting`: waiting for claims, awarding more peers when no majority is possible.
 * - `fetching`: a group holds a majority; its output is being fetched from one member and checked.
 * - `accepted`: the output of the winning group was fetched and matched its hash. Final.
 * - `failed`: no result can reach a majority within the execution bound, or aborted. Final.
 */
export type QuorumPhase = 'new' | 'collecting' | 'fetching' | 'accepted' | 'failed'

export interface QuorumInit {
  /** Replicas `k`: a result is accepted once ⌊k/2⌋+1 executors claim it identically. */
  replicas: number
  /**
   * Most executions of this task in total, counting every award including reissues.
   * @default 2 * max(replicas, fallbackReplicas) + 1
   */
  maxExecutions?: number
  /**
   * For a single-replica task (adaptive replication, `replicas: 1`): the replica count the task
   * falls back to as soon as its executor misses the deadline, declines, or fails to serve a
   * matching output — so an untrusted stand-in is never accepted alone. Unset: no fallback.
   */
  fallbackReplicas?: number
}

/** Outcome of fetching the output from a member of the candidate group and hashing it. */
export type OutputCheck = 'ok' | 'mismatch' | 'unavailable'

/** What the caller observed. Peer ids are strings (`peerId.toString()`). */
export type QuorumEvent =
  /** The caller awarded the task to `peer`, filling one requested award. */
  | { type: 'awarded'; peer: string }
  /**
   * `peer` claims the outcome identified by `resultHash`: a hash of the canonical outcome bytes
   * (status, error code, fuel used, output hash), so executors agree only if all of them agree.
   */
  | { type: 'claim'; peer: string; resultHash: string }
  /** `peer`'s deadline passed without a claim. A claim that arrives later is ignored. */
  | { type: 'deadlineMissed'; peer: string }
  /** `peer` declined the award or reported that it could not execute the task. */
  | { type: 'declined'; peer: string }
  /** Result of a `fetchOutput` decision for `peer`. */
  | { type: 'outputChecked'; peer: string; outcome: OutputCheck }
  /** The caller gives up (user cancelled, no bidders): the task fails with `reason`. */
  | { type: 'abort'; reason: string }

export interface ExecutorVerdict {
  peer: string
  verdict: Verdict
  /** The result it claimed, if it claimed one. */
  resultHash?: string
}

/** What the caller must do. Decisions are returned in the order they must be carried out. */
export type QuorumDecision =
  /** Award `count` more peers, none of them in `exclude` (every peer that ever had this task). */
  | { type: 'award'; count: number; exclude: readonly string[] }
  /** Fetch the output from `peer` and check it against the output hash inside `resultHash`. */
  | { type: 'fetchOutput'; peer: string; resultHash: string }
  /** The task's result is `resultHash`, agreed by `members`; its output was checked from `outputFrom`. */
  | { type: 'accept'; resultHash: string; members: readonly string[]; outputFrom: string }
  /** The task failed; `reason` is a sentence for the user. */
  | { type: 'fail'; reason: string }
  /** Final verdict on one executor; emitted exactly once per awarded peer. */
  | ({ type: 'verdict' } & ExecutorVerdict)
  /** Every awarded peer has its verdict: the task can be settled (receipts signed). Emitted once. */
  | { type: 'settled'; verdicts: readonly ExecutorVerdict[] }
  /** The event did not fit the state (e.g. a claim from a peer never awarded) and changed nothing. */
  | { type: 'ignored'; reason: string }

/** A read-only view for logs, the API and tests. */
export interface QuorumSnapshot {
  phase: QuorumPhase
  replicas: number
  /** Identical claims needed: ⌊replicas/2⌋+1. */
  quorum: number
  maxExecutions: number
  /** Every peer ever awarded, in award order. */
  awarded: readonly string[]
  pendingAwards: number
  running: number
  /** Claims still standing, grouped by result hash. */
  groups: ReadonlyArray<{ resultHash: string; members: readonly string[] }>
  acceptedHash?: string
  failureReason?: string
  verdicts: readonly ExecutorVerdict[]
  settled: boolean
}
