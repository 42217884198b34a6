/**
 * Adaptive replication (`--replicas auto`, the idea of BOINC's adaptive replication) as a pure
 * policy: the caller keeps one number per executor — its run of consecutive verified results — and
 * passes in the random value for spot checks. Nothing here reads a clock or draws randomness.
 *
 * ## Rule
 *
 * - A result is *verified* when it is accepted on a replicated task (replicas ≥ 2), i.e. a majority
 *   of independent executors agreed with it. Each verified result extends the executor's run by one.
 * - A result accepted on a single-replica task verifies nothing and leaves the run unchanged.
 * - One rejected result (a wrong answer on any replicated task, or an output that did not match its
 *   claim) resets the run to 0. A missed deadline or a decline leaves it unchanged: it is not a lie.
 * - An executor whose run is ≥ `trustThreshold` is *trusted*. When the best-ranked bidder for a task
 *   is trusted, the task runs on that one executor only — unless the random value falls below
 *   `spotCheckProbability`, in which case it runs with `replicas` like any other task (a spot check).
 *   A single-replica task falls back to `replicas` if its executor does not deliver.
 * - The announced task must not reveal which tasks are spot-checked (announce them all as `auto`),
 *   or a cheater would lie only when unchecked and never be caught.
 *
 * ## Cost and risk with the defaults (replicas 3, trustThreshold 20, spotCheckProbability 0.1)
 *
 * Let p be the spot-check probability and k the replicas.
 *
 * - Cost. A task run by a trusted executor costs (1 − p)·1 + p·k = 0.9 + 0.3 = **1.2 executions**
 *   in expectation, against **3** for fixed k = 3 — 60 % less work once most executors are trusted.
 *   A newcomer pays the full k = 3 on its first 20 tasks (at least 20 tasks, since only verified
 *   results count).
 * - Risk. A trusted executor that lies has each lie accepted with probability 1 − p = **0.9**
 *   (with fixed k = 3 a lone liar's answer is never accepted). It is caught only on a spot check,
 *   so it gets (1 − p)/p = **9 wrong results accepted on average before it is caught**, however
 *   rarely it lies; then it must produce 20 more verified results before it is trusted again. A
 *   liar that lies on every task once trusted gets about 9 wrong results accepted per 30 of its
 *   tasks (20 replicated + ~10 trusted).
 *
 * | p    | executions per trusted task | P(a lie is accepted) | lies accepted per detection |
 * |------|-----------------------------|----------------------|-----------------------------|
 * | 0.05 | 1.10                        | 0.95                 | 19                          |
 * | 0.10 | 1.20                        | 0.90                 | 9                           |
 * | 0.25 | 1.50                        | 0.75                 | 3                           |
 * | 0.50 | 2.00                        | 0.50                 | 1                           |
 *
 * So `auto` is for swarms whose members are known or whose wrong answers are cheap to discover
 * later; keep a fixed `--replicas 3` (or more) where one accepted wrong answer is costly.
 */
import { InvalidQuorumOptionsError } from './errors.js'
import type { QuorumInit, Verdict } from './types.js'

/** @default 3 */
export const DEFAULT_AUTO_REPLICAS = 3
/** @default 20 verified results in a row */
export const DEFAULT_TRUST_THRESHOLD_RESULTS = 20
/** @default 0.1 */
export const DEFAULT_SPOT_CHECK_PROBABILITY = 0.1

export interface AdaptiveReplicationInit {
  /** Replicas of every task that is not single-replica (including spot checks). @default 3 */
  replicas?: number
  /** Consecutive verified results after which an executor is trusted. @default 20 */
  trustThreshold?: number
  /** Probability in [0, 1] that a task for a trusted executor is replicated anyway. @default 0.1 */
  spotCheckProbability?: number
}

/**
 * How to run one task. `quorum` is ready to pass to `new QuorumTask()`. For a single-replica task
 * `onlyExecutor` is the trusted peer that must receive the one award.
 */
export interface ReplicationPlan {
  quorum: QuorumInit
  onlyExecutor?: string
  /** True when a trusted executor's task was replicated by the random draw. */
  spotCheck: boolean
}

export class AdaptiveReplication {
  readonly replicas: number
  readonly trustThreshold: number
  readonly spotCheckProbability: number

  constructor(init: AdaptiveReplicationInit = {}) {
    this.replicas = init.replicas ?? DEFAULT_AUTO_REPLICAS
    this.trustThreshold = init.trustThreshold ?? DEFAULT_TRUST_THRESHOLD_RESULTS
    this.spotCheckProbability = init.spotCheckProbability ?? DEFAULT_SPOT_CHECK_PROBABILITY
    if (!Number.isSafeInteger(this.replicas) || this.replicas < 2) {
      throw new InvalidQuorumOptionsError(`auto replication needs replicas ≥ 2, got ${this.replicas}`)
    }
    if (!Number.isSafeInteger(this.trustThreshold) || this.trustThreshold < 1) {
      throw new InvalidQuorumOptionsError(`trustThreshold must be an integer ≥ 1, got ${this.trustThreshold}`)
    }
    const p = this.spotCheckProbability
    if (!(p >= 0 && p <= 1))
      throw new InvalidQuorumOptionsError(`spotCheckProbability must be in [0, 1], got ${p}`)
  }

  isTrusted(run: number): boolean {
    return run >= this.trustThreshold
  }

  /**
   * Plans a task whose best-ranked bidder is `bestBidder` with verified run `run`.
   * @param random - a uniform value in [0, 1) drawn by the caller for this task only
   */
  plan(bestBidder: string, run: number, random: number): ReplicationPlan {
    const replicated: QuorumInit = { replicas: this.replicas }
    if (!this.isTrusted(run)) return { quorum: replicated, spotCheck: false }
    if (random < this.spotCheckProbability) return { quorum: replicated, spotCheck: true }
    return {
      quorum: { replicas: 1, fallbackReplicas: this.replicas },
      onlyExecutor: bestBidder,
      spotCheck: false,
    }
  }

  /** The executor's run after one verdict on a task that ran with `replicas` replicas. */
  nextRun(run: number, verdict: Verdict, replicas: number): number {
    if (verdict === 'rejected') return 0
    if (verdict === 'accepted' && replicas >= 2) return run + 1
    return run
  }

  /** Expected executions per task run by a trusted executor: (1 − p)·1 + p·replicas. */
  expectedExecutionsPerTrustedTask(): number {
    return 1 - this.spotCheckProbability + this.spotCheckProbability * this.replicas
  }

  /** Expected wrong results accepted from a trusted liar before a spot check catches it: (1 − p)/p. */
  expectedLiesAcceptedPerDetection(): number {
    return this.spotCheckProbability === 0
      ? Number.POSITIVE_INFINITY
      : (1 - this.spotCheckProbability) / this.spotCheckProbability
  }
}
