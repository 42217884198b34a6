/**
 * One connection per peer pair (issue 12). When two peers dial each other at once (bootstrap
 * meeting a dial, mDNS on both sides, the DHT and keep-connected), libp2p keeps both
 * connections, and each costs both ends a noise handshake, identify, gossipsub and DHT streams
 * and keep-alive pings for as long as it lives. This service keeps the one both ends choose by
 * the same rule without a message (src/network/connections.ts: the one dialled by the smaller
 * peer id) and closes the others gracefully:
 *
 * 1. Retired at once: the market already opens new requests on the kept connection (same rule),
 *    and outbound streams of `drainProtocols` (the market channel) are closed for writing, so
 *    the peer answers what they asked and closes its end.
 * 2. Every other stream in flight on it (a blob read, a DHT query, identify) may finish, for at
 *    most `drainTimeoutMs`. Gossipsub's streams live as long as the connection: not waited for.
 * 3. Closed. Gossipsub's streams that ran on it are reopened on the kept connection by
 *    gossip-streams.ts (gossipsub alone would not, and could even keep a stream that closed
 *    while it was being opened here, losing the pair's gossip for good).
 *
 * Whatever was still in flight at the close is lost with it: market requests are sent again
 * (src/market/wire.ts), blob fetches are retried by their callers. Relayed and WebRTC
 * connections are not touched here (webrtc.ts closes relayed ones once upgraded).
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
import { preferredConnection, redundantConnections } from '../network/index.js'
import { isWebRTC } from './webrtc.js'

/** How long a redundant connection's streams may take to finish before it is closed. */
export const DRAIN_TIMEOUT_MS = 5_000
/**
 * How often a drain looks again while no stream closes: a stream still negotiating its protocol
 * (gossipsub's, just after identify) turns out long-lived without any event saying so.
 */
const DRAIN_RECHECK_MS = 50
/** Streams that live as long as their connection (gossipsub's): never waited for. */
const LONG_LIVED_PREFIXES = ['/meshsub/', '/floodsub/']

export interface ConnectionDedupeInit {
  /** @default DRAIN_TIMEOUT_MS */
  drainTimeoutMs?: number
  /**
   * Request channels whose outbound streams are closed for writing when their connection is
   * retired: the peer answers what was asked, then closes its end. @default []
   */
  drainProtocols?: string[]
}

export interface ConnectionDedupeComponents {
  peerId: PeerId
  connectionManager: Pick<ConnectionManager, 'getConnections'>
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

export interface DedupeStats {
  /** Redundant connections closed since start. */
  closed: number
  /** Of those, closed with streams still open after the drain timeout. */
  cutShort: number
}

export class ConnectionDedupe implements Startable {
  readonly [Symbol.toStringTag] = '@plusone/connection-dedupe'
  readonly stats: DedupeStats = { closed: 0, cutShort: 0 }
  readonly #log: Logger
  readonly #retiring = new WeakSet<Connection>()
  readonly #drainTimeoutMs: number
  readonly #drainProtocols: ReadonlySet<string>
  #started = false

  constructor(
    private readonly components: ConnectionDedupeComponents,
    init: ConnectionDedupeInit = {},
  ) {
    this.#log = components.logger.forComponent('plusone:dedupe')
    this.#drainTimeoutMs = init.drainTimeoutMs ?? DRAIN_TIMEOUT_MS
    this.#drainProtocols = new Set(init.drainProtocols ?? [])
  }

  async start(): Promise<void> {
    this.#started = true
    this.components.events.addEventListener('connection:open', this.#onOpen)
  }

  async stop(): Promise<void> {
    this.#started = false
    this.components.events.removeEventListener('connection:open', this.#onOpen)
  }

  /** Whether `connection` is being drained before it closes. */
  retiring(connection: Connection): boolean {
    return this.#retiring.has(connection)
  }

  readonly #onOpen = (evt: CustomEvent<Connection>): void => {
    if (!this.#started) return
    const peer = evt.detail.remotePeer
    const conns = this.components.connectionManager
      .getConnections(peer)
      .filter((c) => !isWebRTC(c.remoteAddr))
    for (const c of redundantConnections(this.components.peerId, peer, conns)) {
      this.retire(c).catch((err: Error) =>
        this.#log.error('retiring a connection to %p: %s', peer, err.message),
      )
    }
  }

  /**
   * Closes `connection` gracefully: no new requests, streams in flight finish (bounded by the
   * drain timeout), then it closes.
   */
  async retire(connection: Connection): Promise<void> {
    if (this.#retiring.has(connection)) return
    this.#retiring.add(connection)
    const peer = connection.remotePeer
    this.#log('closing a redundant %s connection to %p', connection.direction, peer)
    for (const s of connection.streams) {
      if (s.direction === 'outbound' && this.#drainProtocols.has(s.protocol))
        s.close().catch((err: Error) => s.abort(err))
    }
    const finished = await this.#drain(connection, Date.now() + this.#drainTimeoutMs)
    const others = (): Connection[] =>
      this.components.connectionManager.getConnections(peer).filter((c) => c !== connection)
    if (connection.status === 'open' && preferredConnection(this.components.peerId, peer, others()) == null) {
      // the connection kept went away meanwhile: this one is the pair's only one now
      this.#retiring.delete(connection)
      this.#log('kept a connection to %p: the other one closed while it drained', peer)
      return
    }
    if (connection.status === 'open') {
      if (!finished) {
        this.stats.cutShort++
        const left = connection.streams
          .filter((s) => s.status === 'open')
          .map((s) => s.protocol || '(negotiating)')
        this.#log('closing a redundant connection to %p with streams still open: %s', peer, left.join(' '))
      }
      this.stats.closed++
      // libp2p's default close bound (1 s) turns a close on a busy thread into an abort, and an
      // aborted gossipsub stream makes the peer drop us from gossip while we stay connected
      const signal = AbortSignal.timeout(this.#drainTimeoutMs)
      await connection.close({ signal }).catch((err: Error) => connection.abort(err))
    }
    if (connection.status !== 'closed') await firstClose([connection], this.#drainTimeoutMs)
  }

  /** Waits until only long-lived streams remain; false when `deadline` came first. */
  async #drain(connection: Connection, deadline: number): Promise<boolean> {
    for (;;) {
      if (connection.status !== 'open') return true
      const busy = connection.streams.filter(
        (s) => s.status === 'open' && !LONG_LIVED_PREFIXES.some((p) => s.protocol.startsWith(p)),
      )
      if (busy.length === 0) return true
      const left = deadline - Date.now()
      if (left <= 0) return false
      await firstClose([...busy, connection], Math.min(left, DRAIN_RECHECK_MS))
    }
  }
}

/** Resolves when one of `targets` emits `close`, or after `ms`. */
function firstClose(
  targets: Array<Pick<Connection, 'addEventListener' | 'removeEventListener'>>,
  ms: number,
) {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      for (const t of targets) t.removeEventListener('close', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    for (const t of targets) t.addEventListener('close', done, { once: true })
  })
}

export function connectionDedupe(
  init: ConnectionDedupeInit = {},
): (components: ConnectionDedupeComponents) => ConnectionDedupe {
  return (components) => new ConnectionDedupe(components, init)
}
