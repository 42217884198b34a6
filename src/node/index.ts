/**
 * The libp2p node every plusone daemon runs: tcp, noise, yamux, identify, ping, kad-dht on
 * `/plusone/kad/1.0.0` in server mode, gossipsub, bootstrap, mDNS, and pnet when a swarm key is
 * given. Nothing here knows about tasks; services above take the node as a dependency.
 *
 * @example
 * ```ts
 * import './polyfill.js'
 * const node = await createNode({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
 * console.log(node.peerId.toString(), node.getMultiaddrs())
 * await node.stop()
 * ```
 */
export {
  createNode,
  DHT_DATASTORE_PREFIX,
  DHT_PROTOCOL,
  handshakeCause,
  type DhtTuning,
  type NodeInit,
  type NodeServices,
  type PlusoneNode,
  SIMULATION_DHT,
} from './node.js'
export {
  DIALBACK_PROTOCOL,
  type Reachability,
  ReachabilityService,
  type ReachabilityStatus,
} from './reachability.js'
export {
  HOME_RESERVATIONS,
  RELAY_DATA_LIMIT_BYTES,
  RELAY_DURATION_LIMIT_MS,
  RELAY_MAX_RESERVATIONS,
  RELAY_MODES,
  RELAY_RESERVATION_TTL_MS,
  type RelayMode,
} from './relay.js'
export { checkIceServer, type IceCheck, IceServerCheck, ICE_CHECK_TIMEOUT_MS } from './ice-check.js'
export { type FreshDialer, freshDialer, LOOKUP_INTERVAL_MS } from './fresh-dial.js'
export {
  BoundedDatastore,
  type BoundedDatastoreInit,
  MAX_DHT_ENTRIES,
  MAX_PEER_ENTRIES,
  peerStoreKey,
} from './bounded-datastore.js'
export { cachingNoiseCrypto, PUBLIC_KEY_CACHE_ENTRIES } from './noise-crypto.js'
export {
  GossipStreamGuard,
  type GossipStreamGuardComponents,
  gossipStreamGuard,
  MAX_REPAIRS_PER_WINDOW,
  REPAIR_WINDOW_MS,
} from './gossip-streams.js'
export { loadOrCreateIdentity, readIdentity, IdentityError } from './identity.js'
export {
  parseSwarmKey,
  newSwarmKey,
  readSwarmKeyFile,
  SwarmKeyError,
  writeSwarmKeyFile,
} from './swarm-key.js'
export { acquireLock, DaemonLockedError, type DaemonLock } from './lock.js'
export {
  type ConnectionJson,
  describeConnection,
  listeningAddresses,
  type ReachabilityReport,
  reachabilityReport,
} from './report.js'
