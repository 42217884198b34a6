/**
 * @packageDocumentation
 *
 * The task market (DESIGN.md §2, §3 steps 1–5): any node submits jobs to the mesh; nodes bid,
 * are awarded, execute in the sandbox and return signed claims; the submitter's
 * {@link QuorumTask} (verification/) decides awards, reissues and acceptance.
 *
 * ## A task's life here
 *
 * 1. **Spec.** `submitJob` stores the module and each input as blobs and builds one
 *    {@link TaskSpec} per input. Task id = CIDv1(raw, sha256(encoded spec)). Job and tasks are
 *    journaled (`market` sublevel, see journal.ts) before anything is sent.
 * 2. **Announce.** The submitter signs `"plusone/task-announce/1\0" ‖ u32be(round) ‖ u8(cancelled) ‖ spec`
 *    and gossips an `Announcement` on `plusone/tasks/1` ({@link TASKS_TOPIC}). Receivers refuse
 *    announcements over {@link MAX_ANNOUNCEMENT_BYTES}, unsigned, malformed, signed by anyone but
 *    the spec's submitter, or past the spec's `expiresAt`; they admit each task's rounds in
 *    increasing order only (the same round again is a duplicate, a lower one a replay). A round
 *    with `cancelled` withdraws the task. The submitter re-announces (next round) when it still
 *    needs executors: at once for a reissue, else once no bid has arrived for `reannounceMs`
 *    (1 s, doubling up to 10 s) — never while bids are still coming in, which under load would
 *    only add to the load.
 * 3. **Bid** (`/plusone/bid/1.0.0`). An executor whose policy allows it (memory, price ask ≤ max
 *    price, free slot, not its own task, not already executed) sends a `Bid`; without a free slot
 *    the announcement waits in a bounded queue and is bid on when a slot frees. On a task's first
 *    round an executor bids with probability min(1, 2k / other subscribers), so about 2k bids
 *    arrive instead of one per node (later rounds: everyone who can). The submitter
 *    holds bids in an adaptive window: it closes as soon as twice the wanted bids are in, or once
 *    enough are in and `bidWindowMinMs` (3 ms) has passed, and at the latest `bidWindowMaxMs`
 *    (100 ms) after its first bid. Bids are ranked ({@link MarketInit.rankBids}; default price
 *    then latency — reputation plugs in there), awardees chosen with `selectAwardees` (distinct
 *    peers, never a previous executor, optional per-prefix cap); the reply is `AWARD` with a claim
 *    deadline or `DECLINE` with a reason. A peer's second bid on a task while one is held, or after
 *    it was awarded, is declined: repeated bids count once.
 * 4. **Execute** — only on `AWARD`: fetch the module from the submitter by CID (`BlobService`,
 *    hash-checked, retried with backoff while the holder is busy); an input of at most 8 KiB comes
 *    inline with the award (checked against the input CID), a larger one is fetched; run in the `RuntimePool` with the spec's limits and the task id
 *    as seed source, store the output as a blob, send a `SignedClaim` (signed
 *    `"plusone/result-claim/1\0" ‖ ResultClaim`) on `/plusone/result/1.0.0`; the reply is a `ClaimAck`.
 * 5. **Verify.** Claims (result hash = hex of the runtime's `outcomeHash`) feed the QuorumTask;
 *    its `fetchOutput` decision fetches the output blob from that member (the blob layer checks
 *    its hash); `accept` ends the task; missed deadlines and disagreements make it ask for more
 *    awards (reissue); `settled` calls {@link MarketInit.onSettled} — the ledger's hook.
 *
 * **`replicas: 'auto'`** (adaptive replication, verification/adaptive.ts): such tasks are announced
 * alike with `replicas` 0 ({@link AUTO_REPLICAS}) and bid on as if k were 3. When a task's first
 * bid window closes, the submitter plans it from its best-ranked bidder: an executor whose run of
 * consecutive verified results reaches the trust threshold gets the task alone — unless a random
 * spot check replicates it — and everyone else gets `MarketInit.adaptive.replicas`. The plan is
 * journaled before the first award. Runs are updated from the verdicts of every settled replicated
 * task of this node and kept in the journal (auto.ts), so trust survives a restart; one rejected
 * result resets a run to 0. {@link Market.replicationTrust} shows an executor's run.
 *
 * A task with no bid at all reports why in `waiting` (from capacity records and bids seen), emits
 * `stuck` after `stuckAfterMs`, and fails with that sentence after `giveUpAfterMs`.
 *
 * ## Crash safety
 *
 * Every quorum event is journaled before it is applied; on `start()` unfinished tasks are rebuilt
 * by replay, their deadline timers restarted, and they are re-announced in a new round.
 *
 * @example
 * ```ts
 * const market = new Market({ peerId, privateKey, registrar: node, dialer: node,
 *   pubsub: node.services.pubsub, blobStore, blobs, runtime, db: store.sublevel('market'),
 *   capacity, logger: node.logger }, { executor: { maxTasks: 2, memoryMB: 512 } })
 * await market.start()
 * const { jobId } = await market.submitJob({ module, inputs: [{ name: 'a', bytes }], replicas: 3 })
 * const done = await market.waitForJob(jobId, { signal: AbortSignal.timeout(60_000) })
 * const out = await market.result(done.tasks[0].taskId)
 * ```
 */
export { FairQueue, MAX_CANDIDATES, MAX_CANDIDATES_PER_SUBMITTER, SeenAnnouncements } from './announce.js'
export {
  InvalidAnnouncementError,
  InvalidClaimError,
  InvalidJobError,
  InvalidTaskSpecError,
  JobBusyError,
  MarketPathClosedError,
  MarketStoppedError,
  NoResultError,
  PeerUnreachableError,
  UnknownTaskError,
} from './errors.js'
export {
  BID_REPLY_TIMEOUT_MS,
  type ExecutorStats,
  MAX_BIDS_IN_FLIGHT_PER_SUBMITTER,
  MAX_UNANSWERED_BIDS,
  SHUN_MS,
} from './executor.js'
export { explainSupply, explainWaiting } from './explain.js'
export {
  COLLECT_INTERVAL_MS,
  DEFAULT_JOB_RETENTION_MS,
  Market,
  MAX_JOB_TASKS,
  type RemovedJob,
  RETENTION_CHECK_MS,
  TICK_MS,
} from './market.js'
export { MAX_PENDING_BIDS_PER_PEER } from './submitter.js'
export { AutoReplication, MAX_TRACKED_EXECUTORS } from './auto.js'
export {
  AUTO_REPLICAS,
  agreedFuelOf,
  type Claim,
  checkClaimAgainstSpec,
  decodeSpec,
  encodeSpec,
  MAX_ANNOUNCEMENT_BYTES,
  MAX_CLAIM_BYTES,
  NONCE_BYTES,
  payableTerms,
  resultHashOf,
  signAnnouncement,
  signClaim,
  type TaskSpec,
  taskIdOf,
  type VerifiedAnnouncement,
  verifyAnnouncement,
  verifyClaim,
} from './spec.js'
export { DEADLINE_GRACE_MS, defaultRank, MAX_PENDING_BIDS, TaskMachine } from './task-machine.js'
export {
  type ExecutorPolicy,
  type Fault,
  type GossipMessage,
  INFLATED_FUEL,
  type JobRequest,
  type JobState,
  type JobView,
  type MarketComponents,
  type MarketEvent,
  type MarketInit,
  type MarketPubSub,
  type MarketStats,
  type RankedBid,
  type SubmittedJob,
  TASKS_TOPIC,
  type TaskSettlement,
  type TaskState,
  type TaskView,
} from './types.js'
export type {
  HandleOptions,
  MarketTransport,
  RemotePeer,
  RequestHandler,
  RequestOptions,
} from './transport.js'
export { type Libp2pTransportComponents, libp2pTransport } from './transport-libp2p.js'
export { MAX_PEER_REQUESTS, PEER_REQUESTS_PER_SECOND, type PeerLimitsInit } from './peer-limits.js'
export {
  type InMemoryNetworkInit,
  type InMemoryNode,
  type InMemoryPubSub,
  InMemoryNetwork,
  type NetworkCounters,
} from './transport-memory.js'
export type { TaskEffect, TaskEvent } from './task-events.js'
export {
  BID_PROTOCOL,
  CHANNEL_PROTOCOL,
  MAX_CHANNEL_REQUEST_BYTES,
  REQUEST_ATTEMPTS,
  RESULT_PROTOCOL,
} from './wire.js'
export { chooseCandidates, INVITE_PROTOCOL, invitationsFor } from './candidates.js'
