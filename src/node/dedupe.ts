/**
 * One connection per peer pair. When two peers dial each other at once (both bootstrap to each
 * other, mDNS finds both, a reconnect meets a reconnect), libp2p keeps both connections: each
 * costs a noise handshake, a muxer, identify, and doubled gossip and keep-alive traffic. This
 * service closes the redundant one shortly after both are open. Both ends choose the same one
 * without talking: the connection dialled by the peer with the smaller id (the earliest such if
 * there are several); relayed (limited) connections are left alone.
 *
 * Why not at once: the remote's `dial()` of the losing connection is still returning when its
 * `connection:open` fires here; closed at that moment, that dial fails ("remote closed
 * connection during opening") although the two peers are connected. After `DEDUPE_GRACE_MS`
 * every such dial has returned. Streams opened on the losing connection meanwhile end with it;
 * most owners open new ones as needed, but gossipsub keeps one stream per peer and reopens it
 * only when told of a connection (by identify), so the kept connection is identified again.
 */
import type {
  ComponentLogger,
  Connection,
  Libp2pEvents,
  Logger,
  PeerId,
  Startable,
  TypedEventTarget,
} from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

/** How long both connections stay open before the redundant one is closed. */
export const DEDUPE_GRACE_MS = 1_000

export interface ConnectionDedupeComponents {
  peerId: PeerId
  connectionManager: Pick<ConnectionManager, 'getConnections'>
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

export interface ConnectionDedupeInit {
  /** Runs identify on `connection` again (announces it to the registrar's topologies). */
  reidentify?: (connection: Connection) => Promise<unknown>
}

export class ConnectionDedupe implements Startable {
  readonly [Symbol.toStringTag] = '@plusone/connection-dedupe'
  readonly #log: Logger
  readonly #pending = new Map<string, NodeJS.Timeout>()
  #closed = 0

  constructor(
    private readonly components: ConnectionDedupeComponents,
    private readonly init: ConnectionDedupeInit = {},
  ) {
    this.#log = components.logger.forComponent('plusone:dedupe')
  }

  /** Redundant connections closed since start. */
  get closed(): number {
    return this.#closed
  }

  start(): void {
    this.components.events.addEventListener('connection:open', this.#onOpen)
  }

  stop(): void {
    this.components.events.removeEventListener('connection:open', this.#onOpen)
    for (const t of this.#pending.values()) clearTimeout(t)
    this.#pending.clear()
  }

  readonly #onOpen = (evt: CustomEvent<Connection>): void => {
    const peer = evt.detail.remotePeer
    const key = peer.toString()
    if (this.#pending.has(key)) return
    const timer = setTimeout(() => {
      this.#pending.delete(key)
      this.#dedupe(peer)
    }, DEDUPE_GRACE_MS)
    timer.unref?.()
    this.#pending.set(key, timer)
  }

  #dedupe(peer: PeerId): void {
    const direct = this.components.connectionManager
      .getConnections(peer)
      .filter((c) => c.status === 'open' && c.limits == null)
    if (direct.length < 2) return
    const keep = chooseConnection(direct, this.components.peerId, peer)
    const closing = direct
      .filter((c) => c !== keep)
      .map(async (c) => {
        this.#closed++
        this.#log('closing a second connection to %p (%s)', peer, c.direction)
        await c.close().catch((err: Error) => c.abort(err))
      })
    Promise.all(closing)
      .then(async () => {
        if (keep.status === 'open') await this.init.reidentify?.(keep)
      })
      .catch((err: Error) => this.#log('identifying %p again failed: %s', peer, err.message))
  }
}

/**
 * The connection both ends keep: the earliest one dialled by the peer with the smaller id, or,
 * when that peer dialled none of them, the earliest one.
 */
export function chooseConnection(conns: Connection[], self: PeerId, remote: PeerId): Connection {
  const selfDials = self.toString() < remote.toString()
  const preferred = conns.filter((c) => (c.direction === 'outbound') === selfDials)
  const pool = preferred.length > 0 ? preferred : conns
  return pool.reduce((a, b) => (b.timeline.open < a.timeline.open ? b : a))
}

export function connectionDedupe(
  init: ConnectionDedupeInit = {},
): (components: ConnectionDedupeComponents) => ConnectionDedupe {
  return (components) => new ConnectionDedupe(components, init)
}
