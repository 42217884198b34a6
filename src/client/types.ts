/**
 * The control API's wire types: what `/api/v1` routes return, as JSON. These are the contract
 * the daemon keeps (src/api/contract.ts checks the daemon's own types against them at compile
 * time) and docs/api.yaml documents.
 */

/** Whether other nodes can dial this one, as dial-back found: see `GET /reachability`. */
export type Reachability = 'public' | 'private' | 'unknown'

/** `GET /id`. */
export interface NodeIdentity {
  peerId: string
  /** Advertised multiaddrs: confirmed direct ones, relay addresses behind NAT; no loopback. */
  addresses: string[]
  reachability: Reachability
}

/** One open connection to a peer. */
export interface ConnectionInfo {
  kind: 'direct' | 'relayed' | 'webrtc'
  /** The relay's peer id, for a relayed connection. */
  via?: string
  direction: 'inbound' | 'outbound'
  address: string
  /** A relayed connection carries limited data and time. */
  limited: boolean
}

/** `GET /peers`: one connected peer. */
export interface PeerInfo {
  peerId: string
  addresses: string[]
  /** Round trip of a libp2p ping, or null when the peer did not answer in time. */
  latencyMs: number | null
  /** Each open connection and how it runs (direct, relayed via whom, webrtc). */
  connections: ConnectionInfo[]
}

/** `GET /reachability`: this node's place in the network (what `plusone doctor` explains). */
export interface ReachabilityReport {
  reachability: Reachability
  /** Direct addresses a peer dialled back: when (ms since the epoch) and by whom. */
  confirmed: Array<{ address: string; at: number; by: string }>
  /** Recent dial-back answers, most recent first. */
  answers: Array<{ helper: string; reached: number; refused?: string; error?: string; at: number }>
  /** Addresses this node tells others about. */
  advertised: string[]
  relay: { mode: 'auto' | 'on' | 'off'; serving: boolean; reservations: number }
  /** Relays this node holds a reservation on (peer ids). */
  relaysHeld: string[]
  upnp: {
    enabled: boolean
    /** Addresses the router forwards to this node. */
    mapped: string[]
    /** Whether a peer dialled this node at a mapped address (then it is advertised). */
    confirmed: boolean
    /** The router that answered (host:port), the external address it reports, the last failure. */
    gateway?: string
    externalIp?: string
    error?: string
  }
  connections: { direct: number; relayed: number; webrtc: number }
  /** WebRTC hole punching: on or off, how many ICE servers, recent upgrade attempts (newest first). */
  webrtc: {
    enabled: boolean
    iceServers: number
    upgrades: Array<{ peer: string; ok: boolean; ms: number; error?: string; at: number }>
    /** Whether each ICE server answered a STUN request (asked at most every 30 s); empty with WebRTC off. */
    ice: Array<{ server: string; ok: boolean; mapped?: string; error?: string; ms: number; at: number }>
  }
}

/** `GET /nodes`: one node's signed capacity record. */
export interface NodeRecord {
  peerId: string
  cores: number
  memoryMB: number
  /** Ask in credits per Gfuel. */
  price: number
  maxTasks: number
  features: string[]
  version: string
  /** ISO 8601. */
  expiresAt: string
  /** This daemon's own record. */
  self: boolean
  /** Serves circuit relay v2 for homes behind NAT. */
  relay: boolean
}

export type TaskState = 'waiting' | 'running' | 'done' | 'failed' | 'cancelled'
export type JobState = 'running' | 'done' | 'failed' | 'cancelled'

/** `POST /jobs` answer: the ids given to the job and its tasks (one per input, in order). */
export interface SubmittedJob {
  jobId: string
  tasks: Array<{ taskId: string; input: string }>
}

/** `GET /tasks/:id`. */
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
  /** Replicas in force (1 for a single-replica `auto` task). */
  replicas: number
  auto?: boolean
  awarded: number
  claims: number
  bidders: number
  /**
   * Finished, and every awarded replica has answered or missed its deadline: the task's receipts
   * are signed and no further payment for it will come.
   */
  settled: boolean
  /** Milliseconds since the epoch. */
  createdAt: number
  finishedAt?: number
}

/** `GET /jobs/:id`. */
export interface JobView {
  jobId: string
  status: JobState
  tasks: Array<{ taskId: string; input: string; status: TaskState; outputHash?: string }>
  /** Why it is waiting, if it is. */
  waiting?: string
  createdAt: number
}

/** `GET /events`: one server-sent event's data. */
export type MarketEvent =
  | { type: 'task'; taskId: string; jobId: string; status: TaskState; reason?: string }
  | { type: 'job'; jobId: string; status: JobState; done: number; failed: number; total: number }
  | { type: 'stuck'; taskId: string; waiting: string }
  | { type: 'announcement'; taskId?: string; accepted: boolean; reason?: string }
  | { type: 'bid'; taskId: string; peer: string; decision: 'award' | 'decline'; reason?: string }
  | { type: 'executed'; taskId: string; status: string }
  | { type: 'dropped'; taskId: string; reason: string }
  | { type: 'removed'; jobId: string }

/** `DELETE /jobs/:id`: what removing a job freed. */
export interface RemovedJob {
  jobId: string
  /** Blobs deleted (those nothing else on this node needs). */
  blobs: number
}

/** `GET /stats`: this node's market counters. */
export interface MarketStats {
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
  liveTasks: number
}

/** `GET /ledger`. Amounts are credits (micro-credit precision). */
export interface LedgerView {
  peerId: string
  balance: number
  earned: number
  spent: number
  creditLimit: number
  /** Credits earned per hour (UTC), oldest first. */
  earnings: Array<{ hour: string; credits: number; tasks: number }>
  peers: Array<{
    peerId: string
    score: number
    accepted: number
    rejected: number
    timedOut: number
    submitters: number
    balance: number
  }>
  receipts: { stored: number; published: number; received: number; rejected: number }
}

/** The body of `POST /jobs`: bytes travel as base64. */
export interface SubmitBody {
  module: string
  inputs: Array<{ name: string; data: string }>
  /** A whole number ≥ 1, or "auto" for adaptive replication. */
  replicas?: number | 'auto'
  fuel?: number
  memoryMB?: number
  maxOutputBytes?: number
  deadlineMs?: number
  /** Micro-credits per Gfuel. */
  maxPrice?: number
}
