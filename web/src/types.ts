/**
 * The control API's JSON as the dashboard reads it: the daemon's own types, imported as types
 * only (esbuild erases them, so no Node code reaches the bundle).
 */
export type { LedgerJson } from '../../src/api/ledger-routes.js'
export type { NodeJson, PeerInfoJson as PeerJson } from '../../src/api/routes.js'
export type {
  JobState,
  JobView as JobJson,
  MarketEvent,
  MarketStats as StatsJson,
  TaskState,
  TaskView as TaskJson,
} from '../../src/market/index.js'

/** `GET /id`. */
export interface IdJson {
  peerId: string
  addresses: string[]
  /** Whether peers can dial this node, when the daemon reports it. */
  reachability?: string
}
