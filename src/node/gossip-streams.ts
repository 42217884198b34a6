/**
 * Keeps gossipsub's outbound stream to a peer alive when one of several connections to that peer
 * closes (issue 12): the connection dedupe closes the redundant one of a pair (dedupe.ts), and a
 * peer may close one for reasons of its own. Without this, the pair can lose gossip for good.
 *
 * Gossipsub (@libp2p/gossipsub 17.1.1, `src/gossipsub.ts`) holds one outbound stream per peer in
 * `streamsOutbound`, sends our subscriptions only when it opens one (`createOutboundStream`,
 * l. 711), and opens one only while it holds none (l. 678) and only when told of the peer
 * (a topology's `onConnect` after identify, or an inbound stream from the peer, l. 629–654):
 *
 * - A stream that closes after its protocol was negotiated but before `connection.newStream()`
 *   resolved (libp2p still writes the protocol to the peer store and runs the middleware chain,
 *   slow on a busy thread) reaches gossipsub already closed. Gossipsub listens for `close` only
 *   after storing it (l. 694–708), the event has passed, and the dead entry stays: gossipsub never
 *   opens another stream to that peer, so the peer never learns our subscriptions (it sees too
 *   few subscribers) and our messages to it go nowhere. Identifying the peer again does not
 *   help: `onConnect` returns early on the dead entry. This is what the dedupe ran into when it
 *   closed a connection on which gossipsub was just opening its stream.
 * - A stream that closes while the peer stays connected over another connection is dropped
 *   (l. 702–706) and nothing opens a new one.
 *
 * This service repairs both from outside gossipsub. When a connection to a peer closes while
 * the peer stays connected, and on every gossipsub heartbeat (a stream handed over late can be
 * taken after the close was seen), it looks at each such peer: if no open connection carries a
 * writable gossipsub outbound stream, a dead entry gossipsub still holds is dropped and
 * gossipsub's topology is told of the peer on the connection both ends keep
 * (`preferredConnection`), as identify would tell it: gossipsub opens a stream there and sends
 * our subscriptions. The peer's own guard does the same for its stream, so each end learns the
 * other's subscriptions again. Repairs are bounded per peer (a peer that keeps closing our
 * streams cannot make us open them without end).
 *
 * Why not a stream middleware on gossipsub's protocols, to refuse a closed stream before gossipsub
 * takes it: libp2p 3.3.11 appends each inbound stream's handler to the middleware array registered
 * for its protocol (`Connection.onIncomingStream`), so with any middleware registered, gossipsub's
 * inbound handler piles up there and runs for our outbound streams too.
 */
import type {
  ComponentLogger,
  Connection,
  Libp2pEvents,
  Logger,
  PeerId,
  Startable,
  Stream,
  Topology,
  TypedEventTarget,
} from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { preferredConnection } from '../network/index.js'

/** Repairs of one peer's gossipsub stream allowed per `REPAIR_WINDOW_MS`. */
export const MAX_REPAIRS_PER_WINDOW = 5
/** The window `MAX_REPAIRS_PER_WINDOW` counts in. */
export const REPAIR_WINDOW_MS = 60_000

/**
 * What the guard uses of the gossipsub service: its interface (protocols, peers, heartbeat
 * event) and the one table of its class it must mend, `streamsOutbound` (a public field of
 * `@libp2p/gossipsub`'s class that its exported interface leaves out; the guard checks it is
 * there and only reopens streams if it is not).
 */
export interface GuardedGossipsub {
  protocols: string[]
  getPeers(): PeerId[]
  addEventListener(type: 'gossipsub:heartbeat', listener: () => void): void
  removeEventListener(type: 'gossipsub:heartbeat', listener: () => void): void
}

export interface GossipStreamGuardComponents {
  peerId: PeerId
  registrar: Pick<Registrar, 'getTopologies'>
  connectionManager: Pick<ConnectionManager, 'getConnections'>
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  pubsub: GuardedGossipsub
}

export interface GossipStreamGuardStats {
  /** Dead outbound streams dropped from gossipsub's table. */
  dropped: number
  /** Times gossipsub was told of a peer again so it opens a new outbound stream. */
  reopened: number
}

/** Whether gossipsub can still send on `stream`. */
const writable = (stream: Stream): boolean => stream.status === 'open' && stream.writeStatus === 'writable'

export class GossipStreamGuard implements Startable {
  readonly [Symbol.toStringTag] = '@plusone/gossip-stream-guard'
  readonly stats: GossipStreamGuardStats = { dropped: 0, reopened: 0 }
  readonly #log: Logger
  /** Repairs per connected peer in the current window; a peer's entry goes when it disconnects. */
  readonly #repairs = new Map<string, { since: number; count: number }>()
  readonly #scheduled = new Set<string>()
  #outbound: Map<string, unknown> | undefined
  #protocols: ReadonlySet<string> = new Set()
  #started = false

  constructor(private readonly components: GossipStreamGuardComponents) {
    this.#log = components.logger.forComponent('plusone:gossip-streams')
  }

  async start(): Promise<void> {
    const { pubsub, events } = this.components
    this.#protocols = new Set(pubsub.protocols)
    const table = (pubsub as { streamsOutbound?: unknown }).streamsOutbound
    this.#outbound = table instanceof Map ? table : undefined
    if (this.#outbound == null)
      this.#log.error('gossipsub has no streamsOutbound table: dead streams cannot be dropped, only reopened')
    events.addEventListener('connection:close', this.#onClose)
    events.addEventListener('peer:disconnect', this.#onDisconnect)
    pubsub.addEventListener('gossipsub:heartbeat', this.#onHeartbeat)
    this.#started = true
  }

  async stop(): Promise<void> {
    this.#started = false
    const { pubsub, events } = this.components
    events.removeEventListener('connection:close', this.#onClose)
    events.removeEventListener('peer:disconnect', this.#onDisconnect)
    pubsub.removeEventListener('gossipsub:heartbeat', this.#onHeartbeat)
    this.#repairs.clear()
    this.#scheduled.clear()
  }

  readonly #onClose = (evt: CustomEvent<Connection>): void => {
    const peer = evt.detail.remotePeer
    const key = peer.toString()
    if (!this.#started || this.#scheduled.has(key)) return
    // once the events of this turn have run: gossipsub has dropped the streams that closed
    this.#scheduled.add(key)
    setImmediate(() => {
      this.#scheduled.delete(key)
      this.#check(peer, false)
    })
  }

  /** Only dead entries: a missing stream may be on its way (gossipsub opens it after identify). */
  readonly #onHeartbeat = (): void => {
    if (!this.#started || this.#outbound == null) return
    for (const peer of this.components.pubsub.getPeers())
      if (this.#outbound.has(peer.toString())) this.#check(peer, true)
  }

  readonly #onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.#repairs.delete(evt.detail.toString())
  }

  /**
   * Makes sure gossipsub has a live outbound stream to `peer` while it is connected; with
   * `deadOnly`, only when gossipsub holds a dead one.
   */
  #check(peer: PeerId, deadOnly: boolean): void {
    if (!this.#started) return
    const open = this.components.connectionManager.getConnections(peer).filter((c) => c.status === 'open')
    const live = open.some((c) =>
      c.streams.some((s) => s.direction === 'outbound' && this.#protocols.has(s.protocol) && writable(s)),
    )
    if (live) return
    const key = peer.toString()
    if (deadOnly && this.#outbound?.has(key) !== true) return
    // a peer gossipsub does not know (it does not speak gossipsub, or has not been identified yet)
    // is not ours to introduce
    if (!deadOnly && !this.components.pubsub.getPeers().some((p) => p.equals(peer))) return
    // gossipsub does not run on limited (relayed) connections here: runOnLimitedConnection false
    const kept = preferredConnection(
      this.components.peerId,
      peer,
      open.filter((c) => c.limits == null),
    )
    if (kept == null) return // the peer is gone: gossipsub forgets it by itself
    if (!this.#allowed(key)) return
    // no writable stream exists, so the one gossipsub holds (if any) is dead: it closed before
    // gossipsub listened for its close, and gossipsub would never open another while it is there
    if (this.#outbound?.delete(key) === true) {
      this.stats.dropped++
      this.#log('dropped a dead gossipsub stream to %p', peer)
    }
    this.stats.reopened++
    this.#log('reopening the gossipsub stream to %p on its %s connection', peer, kept.direction)
    for (const topology of this.#topologies()) {
      Promise.resolve(topology.onConnect?.(peer, kept)).catch((err: Error) =>
        this.#log.error('telling gossipsub of %p again: %s', peer, err.message),
      )
    }
  }

  /** Gossipsub registers one topology for all its protocols: each is told once. */
  #topologies(): Set<Topology> {
    const out = new Set<Topology>()
    for (const p of this.#protocols) for (const t of this.components.registrar.getTopologies(p)) out.add(t)
    return out
  }

  #allowed(key: string): boolean {
    const now = Date.now()
    const r = this.#repairs.get(key)
    if (r == null || now - r.since >= REPAIR_WINDOW_MS) {
      this.#repairs.set(key, { since: now, count: 1 })
      return true
    }
    if (r.count >= MAX_REPAIRS_PER_WINDOW) {
      if (r.count === MAX_REPAIRS_PER_WINDOW)
        this.#log('not reopening the gossipsub stream to %s again within %d ms', key, REPAIR_WINDOW_MS)
      r.count++
      return false
    }
    r.count++
    return true
  }
}

export function gossipStreamGuard(): (components: GossipStreamGuardComponents) => GossipStreamGuard {
  return (components) => new GossipStreamGuard(components)
}
