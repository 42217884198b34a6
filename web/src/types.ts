/**
 * The control API's JSON, as the dashboard reads it (`/api/v1/...`). Kept here rather than
 * imported from src/ so the browser bundle never pulls in Node code; test/dashboard checks the
 * page against a real daemon, so a drift shows up there.
 */
export interface IdJson {
  peerId: string
  addresses: string[]
  /** Added by the NAT work; shown when the daemon reports it. */
  reachability?: string
}

export interface NodeJson {
  peerId: string
  cores: number
  memoryMB: number
  price: number
  maxTasks: number
  features: string[]
  version: string
  self: boolean
}

export interface PeerJson {
  peerId: string
  addresses: string[]
  latencyMs: number | null
}

export type TaskState = 'waiting' | 'running' | 'done' | 'failed' | 'cancelled'
export type JobState = 'running' | 'done' | 'failed' | 'cancelled'

export interface TaskJson {
  taskId: string
  jobId: string
  input: string
  status: TaskState
  outputHash?: string
  reason?: string
  waiting?: string
  replicas: number
  awarded: number
  claims: number
  createdAt: number
  finishedAt?: number
}

export interface JobJson {
  jobId: string
  status: JobState
  tasks: Array<{ taskId: string; input: string; status: TaskState; outputHash?: string }>
  waiting?: string
  createdAt: number
}

export interface StatsJson {
  executed: number
  bidsSent: number
  awardsWon: number
  claimsSent: number
  liveTasks: number
}

export interface LedgerJson {
  peerId: string
  balance: number
  earned: number
  spent: number
  creditLimit: number
  earnings: Array<{ hour: string; credits: number; tasks: number }>
  peers: Array<{ peerId: string; score: number; accepted: number; rejected: number; timedOut: number }>
  receipts: { stored: number }
}

export type MarketEvent =
  | { type: 'task'; taskId: string; jobId: string; status: TaskState; reason?: string }
  | { type: 'job'; jobId: string; status: JobState; done: number; failed: number; total: number }
  | { type: 'stuck'; taskId: string; waiting: string }
  | { type: 'announcement'; taskId?: string; accepted: boolean; reason?: string }
  | { type: 'bid'; taskId: string; peer: string; decision: 'award' | 'decline'; reason?: string }
  | { type: 'executed'; taskId: string; status: string }
  | { type: 'dropped'; taskId: string; reason: string }
