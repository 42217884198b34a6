import type { TopicValidatorFn } from '@libp2p/gossipsub'
import type { ComponentLogger, Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import type { BlobService, BlobStore } from '../blobs/index.js'
import type { Capacity } from '../capacity/index.js'
import type { Outcome, RunRequest } from '../runtime/index.js'
import type { NetworkId } from '../network/index.js'
import type { Sublevel } from '../store/index.js'
import type { AdaptiveReplicationInit, ExecutorVerdict } from '../verification/index.js'
import type { MarketTransport } from './transport.js'

/** The gossip topic of task announcements. */
export const TASKS_TOPIC = 'plusone/tasks/1'

/** A finished task's executors as the submitter settles them (one receipt each). */
export interface TaskSettlement {
  taskId: string
  jobId: string
  executors: Array<{
    peer: string
    verdict: ExecutorVerdict['verdict']
    /** Fuel the executor claimed (0 when it sent no claim). */
    fuelUsed: number
    /** Micro-credits per Gfuel: its bid. */
    price: number
  }>
}

/** The pieces of gossipsub the market uses. */
export interface MarketPubSub {
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  publish(topic: string, data: Uint8Array): Promise<unknown>
  /** Peers subscribed to a topic; executors use it to estimate how many others will bid. */
  getSubscribers?(topic: string): unknown[]
  addEventListener(type: 'message', listener: (evt: CustomEvent<GossipMessage>) => void): void
  removeEventListener(type: 'message', listener: (evt: CustomEvent<GossipMessage>) => void): void
  /**
   * gossipsub's validators: when present, announcements are checked before gossipsub forwards
   * them, so invalid ones are rejected (and their sender's peer score penalised) and duplicates
   * and expired ones are not forwarded.
   */
  topicValidators?: Map<string, TopicValidatorFn>
}

/** A gossip message as the market reads it (gossipsub's `Message`). */
export interface GossipMessage {
  type: 'signed' | 'unsigned'
  topic: string
  data: Uint8Array
}

/** Narrow dependencies of the market; a libp2p node provides most of them. */
export interface MarketComponents {
  peerId: PeerId
  privateKey: PrivateKey
  /**
   * Bids and claims travel on this (transport.ts); without it, on libp2p streams through
   * `registrar` and `dialer`. Tests pass an `InMemoryNetwork` node's transport.
   */
  transport?: MarketTransport
  registrar?: Pick<Libp2p, 'handle' | 'unhandle'>
  /** Opens protocol streams; with `getConnections`, reuses an open connection without a dial. */
  dialer?: Pick<Libp2p, 'dialProtocol' | 'peerId'> & Partial<Pick<Libp2p, 'getConnections'>>
  pubsub: MarketPubSub
  blobStore: Pick<BlobStore, 'put' | 'get' | 'has' | 'delete' | 'list'>
  blobs: Pick<BlobService, 'fetch'>
  runtime: { run(req: RunRequest): Promise<Outcome> }
  /** The `market` sublevel of the node's store: the submitter's journal. */
  db: Sublevel
  /** The network announcements and claims are signed for (network/index.ts). @default PUBLIC_NETWORK */
  network?: NetworkId
  /** Capacity records seen (CapacityService), used to explain a stuck task. */
  capacity?: { known(): Capacity[] }
  logger: ComponentLogger
}

/**
 * Testing aid (issues 6 and 11): how a faulty executor misbehaves. `inflate-fuel` claims
 * {@link INFLATED_FUEL} fuel for every run, whatever the task used, to bill more than it did.
 */
export type Fault = 'wrong-output' | 'collude' | 'silent' | 'slow' | 'inflate-fuel'

/** The fuel an `inflate-fuel` executor claims (the figure of issue 11's attack). */
export const INFLATED_FUEL = 9_000_000_000_000_000

/** What this node offers as an executor. */
export interface ExecutorPolicy {
  /** Bid on tasks at all. @default true */
  enabled?: boolean
  /** Tasks bid on or run at once. @default 1 */
  maxTasks?: number
  /** Memory offered to one task, MiB. @default 256 */
  memoryMB?: number
  /** Ask, micro-credits per Gfuel; tasks with a lower max price are skipped. @default 0 */
  price?: number
  /** Testing aid only. */
  fault?: Fault
  /**
   * The executor's defences against a submitter that floods announcements and stalls bids: the
   * queue fair across submitters, a 3 s bid timeout, dropping a submitter that never answers,
   * per-submitter bids in flight. `false` behaves as plusone did before issue 11 (one
   * first-in-first-out queue, 5 s, none of the rest): only bench/hostile.ts turns it off, to
   * measure what the defences buy. @default true
   */
  floodDefence?: boolean
  /**
   * The operator's veto, asked before every bid: a reason not to bid on this submitter's task
   * now (over its credit limit, the machine is busy), or undefined to go ahead.
   */
  admit?: (submitter: string) => string | undefined
}

/** A bid as the submitter ranks it. */
export interface RankedBid {
  peer: string
  /** Remote address of the bidder's connection (for Sybil prefix limits). */
  address?: string
  price: number
  /** Time from the announcement of the current round to the bid's arrival. */
  latencyMs: number
  freeSlots: number
}

export interface MarketInit {
  executor?: ExecutorPolicy
  /** Bid window closes at the latest this long after its first bid. @default 100 */
  bidWindowMaxMs?: number
  /** Once enough bids are in, the window still waits this long for better ones. @default 5 */
  bidWindowMinMs?: number
  /** Ranks bids best first. @default by price, then latency (reputation plugs in here) */
  rankBids?: (bids: readonly RankedBid[]) => RankedBid[]
  /** Awards per task per IPv4 /24 or IPv6 /48; undefined disables (private swarm). @default undefined */
  maxAwardsPerPrefix?: number
  /** A task with no bid at all for this long fails with its explanation. @default 120000 */
  giveUpAfterMs?: number
  /** A task with no bid for this long emits a `stuck` event. @default 5000 */
  stuckAfterMs?: number
  /**
   * A task still short of executors is re-announced once no bid has arrived for this long; the
   * interval doubles up to 10 s. @default 1000
   */
  reannounceMs?: number
  /** Settlement hook: called once per finished task with every executor's verdict (issue 6 receipts). */
  /** Resolves once the receipts are stored; the task is then journaled as settled. */
  onSettled?: (settlement: TaskSettlement) => Promise<void> | void
  /** Re-announce unfinished tasks found in the journal on start. @default true */
  resume?: boolean
  /**
   * Policy for jobs submitted with `replicas: 'auto'` (replicas, trust threshold, spot-check
   * probability). @default the defaults of AdaptiveReplication (3, 20, 0.1)
   */
  adaptive?: AdaptiveReplicationInit
  /** Uniform random values in [0, 1) for spot checks; tests pass their own. @default Math.random */
  random?: () => number
  /**
   * Largest total size of other peers' blobs (modules, inputs, outputs) this node keeps as an
   * executor; least recently used out. @default DEFAULT_CACHE_BYTES (1 GiB)
   */
  cacheBytes?: number
  /**
   * Bound and collect other peers' blobs (the blob cache). `false` keeps every one of them
   * forever, as plusone did before issue 11: only benchmarks turn it off. @default true
   */
  collect?: boolean
  /**
   * Whether this node holds the receipt that settles its execution of `taskId` for `submitter`;
   * a settled task's output is collected. @default never (outputs go when their task expires)
   */
  isSettled?: (taskId: string, submitter: string) => boolean | Promise<boolean>
  /**
   * Finished jobs whose last task finished longer ago than this are removed with their blobs;
   * 0 keeps them until `removeJob`. @default DEFAULT_JOB_RETENTION_MS (30 days)
   */
  jobRetentionMs?: number
}

/** A job request: one task per input. */
export interface JobRequest {
  module: Uint8Array
  inputs: Array<{ name: string; bytes: Uint8Array }>
  /**
   * Replicas k, or `'auto'`: adaptive replication (BOINC-style, see verification/adaptive.ts) —
   * a task whose best bidder has a long run of verified results runs on that executor alone,
   * except for random spot checks; every other task runs with `MarketInit.adaptive.replicas`.
   * @default 3
   */
  replicas?: number | 'auto'
  /** @default 10_000_000_000 */
  fuel?: number
  /** @default 256 */
  memoryMB?: number
  /** @default 16 MiB */
  maxOutputBytes?: number
  /** Time an executor has to return its claim. @default 30000 */
  deadlineMs?: number
  /** Highest ask accepted, micro-credits per Gfuel. @default Number.MAX_SAFE_INTEGER */
  maxPrice?: number
}

export type TaskState = 'waiting' | 'running' | 'done' | 'failed' | 'cancelled'
export type JobState = 'running' | 'done' | 'failed' | 'cancelled'

export interface SubmittedJob {
  jobId: string
  tasks: Array<{ taskId: string; input: string }>
}

/** `taskStatus()`; JSON-serialisable. */
export interface TaskView {
  taskId: string
  jobId: string
  input: string
  status: TaskState
  /** sha256 of the accepted output, hex. */
  outputHash?: string
  /** Blob CID of the accepted output. */
  outputCid?: string
  /** Why it failed or was cancelled. */
  reason?: string
  /** Why it is waiting, if it is. */
  waiting?: string
  /** Replicas in force: for an `auto` task, what its plan chose (1 for a single-replica task). */
  replicas: number
  /** Submitted with `replicas: 'auto'`. */
  auto?: boolean
  awarded: number
  claims: number
  bidders: number
  /**
   * Finished, and every awarded replica has answered or missed its deadline: the task's receipts
   * are signed and no further payment for it will come.
   */
  settled: boolean
  createdAt: number
  finishedAt?: number
}

/** `jobStatus()`; JSON-serialisable (the shape of `plusone status JOB --json`). */
export interface JobView {
  jobId: string
  status: JobState
  tasks: Array<{ taskId: string; input: string; status: TaskState; outputHash?: string }>
  waiting?: string
  createdAt: number
}

export type MarketEvent =
  | { type: 'task'; taskId: string; jobId: string; status: TaskState; reason?: string }
  | { type: 'job'; jobId: string; status: JobState; done: number; failed: number; total: number }
  | { type: 'stuck'; taskId: string; waiting: string }
  | { type: 'announcement'; taskId?: string; accepted: boolean; reason?: string }
  | { type: 'bid'; taskId: string; peer: string; decision: 'award' | 'decline'; reason?: string }
  | { type: 'executed'; taskId: string; status: string }
  | { type: 'dropped'; taskId: string; reason: string }
  | { type: 'removed'; jobId: string }

export interface MarketStats {
  /** Tasks this node ran to an outcome as an executor. */
  executed: number
  bidsSent: number
  awardsWon: number
  claimsSent: number
  /** Announcements not bid on because of a flood limit or a dropped submitter. */
  announcementsDropped: number
  /** Times a submitter was dropped for leaving bids unanswered. */
  submittersDropped: number
  announcementsAccepted: number
  announcementsRejected: number
  /** Our tasks that are not finished. */
  liveTasks: number
}
