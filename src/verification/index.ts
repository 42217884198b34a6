/**
 * @packageDocumentation
 *
 * Replicated verification (DESIGN.md §3 step 6): results are trusted because several independent
 * peers compute them and a strict majority agrees, not because anyone is trusted. Everything here
 * is pure — events in, decisions out; no networking, no timers, no randomness (the caller passes
 * random values in) — so it is tested exhaustively and replayed from the journal after a crash.
 *
 * ## The quorum state machine ({@link QuorumTask})
 *
 * ```ts
 * const task = new QuorumTask({ replicas: 3 })
 * for (const d of task.start()) carryOut(d)            // { type: 'award', count: 3, exclude: [] }
 * // later, for each thing that happens:
 * for (const d of task.apply({ type: 'claim', peer, resultHash })) carryOut(d)
 * ```
 *
 * Events: `awarded`, `claim`, `deadlineMissed`, `declined`, `outputChecked` (ok / mismatch /
 * unavailable), `abort`. Decisions: `award` (count, and every peer that ever had the task to
 * exclude), `fetchOutput`, `accept`, `fail` (a sentence), `verdict` (once per awarded executor:
 * accepted / rejected / timed_out), `settled` (all verdicts final; sign receipts), `ignored`.
 *
 * ### Majority rule
 *
 * Let k be the replicas and q = ⌊k/2⌋ + 1. **A result is accepted when q executors — distinct
 * peers, counted over every execution of the task including reissues — claimed it identically and
 * its output, fetched from one of them, matches its hash.** Claims are not compared with the
 * number of executions: with k = 3, claims A and B and a reissue that claims A accept A (2 of the
 * 3 needed). The rule is safe because at most f = ⌊(k−1)/2⌋ < q executors of a task may be wrong
 * or silent, so no wrong result can gather q claims; and it is live because the execution bound
 * M = 2k + 1 leaves M − f ≥ q honest executions. A task is only accepted after its output is
 * checked, so `accept` is final and happens at most once.
 *
 * - Output check: members of the winning group are asked one at a time (in award order). A member
 *   whose bytes do not match the hash is provably wrong: its verdict is `rejected` and its claim no
 *   longer counts; if the group falls below q, collection resumes. If every member is unavailable,
 *   none delivered (`timed_out`) and collection resumes.
 * - Reissue: while no group holds q claims, the machine awards just enough new peers that the
 *   largest group could still reach q if every outstanding replica agreed with it
 *   (need = q − largest − running − pending). So a disagreement or a missed deadline reissues
 *   exactly when a majority has become impossible without more executions, never before.
 * - Fail: when `need` exceeds what is left of M, with a reason such as "7 executions gave 5
 *   different results, 2 missed the deadline; no result can reach the 2 matching claims that a
 *   majority of 3 needs within the limit of 7 executions".
 * - Verdicts: claimants of the accepted result `accepted` (also late ones); other claimants and all
 *   claimants of a failed task `rejected`; missed deadline, decline or an unservable output
 *   `timed_out`. Executions still running when the task ends keep running until they claim or
 *   miss their deadline; `settled` follows the last verdict. Once the task has ended, award
 *   requests still unfilled are void: awarding after `accept` or `fail` is a `QuorumUsageError`.
 *
 * ## Adaptive replication and Sybil limits
 *
 * {@link AdaptiveReplication} plans single-replica tasks for executors with a long run of verified
 * results, with random spot checks; its TSDoc gives the cost and the risk in numbers.
 * {@link prefixKey} and {@link selectAwardees} spread one task's awards over distinct IPv4 /24 and
 * IPv6 /48 networks on the public network.
 */
export {
  AdaptiveReplication,
  type AdaptiveReplicationInit,
  DEFAULT_AUTO_REPLICAS,
  DEFAULT_SPOT_CHECK_PROBABILITY,
  DEFAULT_TRUST_THRESHOLD_RESULTS,
  type ReplicationPlan,
} from './adaptive.js'
export { InvalidAddressError, InvalidQuorumOptionsError, QuorumUsageError } from './errors.js'
export { MAX_RESULT_HASH_CHARS, QuorumTask, quorumSize, toleratedFaults } from './quorum.js'
export {
  type AwardCandidate,
  type AwardSelectionOptions,
  DEFAULT_MAX_AWARDS_PER_PREFIX,
  prefixKey,
  selectAwardees,
  UNKNOWN_PREFIX,
} from './sybil.js'
export type {
  ExecutorVerdict,
  OutputCheck,
  QuorumDecision,
  QuorumEvent,
  QuorumInit,
  QuorumPhase,
  QuorumSnapshot,
  Verdict,
} from './types.js'
