/**
 * WebRTC private-to-private for homes behind NAT: two peers that reach each other only through
 * a relay exchange SDP offers and ICE candidates over the relayed connection
 * (`@libp2p/webrtc`, signalling on `/webrtc-signaling/0.0.1`) and punch a UDP hole between
 * their routers. The result is a direct, unlimited connection; the relay then carries nothing.
 *
 * libp2p does not upgrade by itself: a peer dialled by id keeps using the relayed connection it
 * has. `WebRTCUpgrader` does it: once identify shows that the peer at the other end of a relayed
 * connection we opened accepts WebRTC signalling, it dials `<relay>/p2p-circuit/webrtc/p2p/<peer>`
 * through the same relay (one attempt at a time per peer, failed peers left alone for
 * `RETRY_AFTER_MS`). WebRTC addresses are not advertised: a dialler holding one races the
 * WebRTC dial against the plain relayed one and, when the hole punch fails, may lose both;
 * first relayed, then upgraded, is the one order that always leaves a working connection. Once the new connection is
 * admitted (in a private swarm: the peer proved membership) the relayed connections to that
 * peer are closed, so the relay carries nothing more for the pair and every stream — the
 * market's long-lived channel included, which reopens on first use — runs directly.
 *
 * ICE servers: none by default, so nothing is ever sent to a third party. Host candidates
 * alone connect peers on one LAN (or a public node and a home); two homes behind separate
 * routers also need a STUN server both can reach, given with `--ice-server stun:host:port`.
 *
 * WebRTC connections skip pnet: in a private swarm `membership.ts` gates them.
 */
import type {
  ComponentLogger,
  Connection,
  IdentifyResult,
  Libp2pEvents,
  Logger,
  PeerId,
  Startable,
  TypedEventTarget,
} from '@libp2p/interface'
import type { ConnectionManager, TransportManager } from '@libp2p/interface-internal'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'

/** libp2p's WebRTC signalling protocol (identify lists it for peers that accept WebRTC). */
export const SIGNALING_PROTOCOL = '/webrtc-signaling/0.0.1'
/** Where a node listens for WebRTC: on every relay address it holds. */
export const WEBRTC_LISTEN = '/webrtc'
/** One attempt to upgrade (signalling, ICE, DTLS, SCTP). */
export const UPGRADE_TIMEOUT_MS = 15_000
/**
 * Attempts per peer before backing off: an attempt sometimes dies in node-datachannel's ICE set-up
 * (a remote candidate refused, the peer connection closed) where the next one succeeds.
 */
export const UPGRADE_ATTEMPTS = 3
/** A peer whose upgrade failed is not tried again before this. */
export const RETRY_AFTER_MS = 5 * 60_000
/** Upgrades running at once. */
const MAX_CONCURRENT_UPGRADES = 4
/** Peers remembered for the retry rule before the oldest are forgotten. */
const MAX_REMEMBERED = 1024

export function isWebRTC(ma: Multiaddr): boolean {
  return ma.getComponents().some((c) => c.name === 'webrtc')
}

export interface WebRTCUpgraderComponents {
  peerId: PeerId
  connectionManager: ConnectionManager
  transportManager: TransportManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

export interface UpgradeRecord {
  peer: string
  ok: boolean
  ms: number
  error?: string
  at: number
}

export class WebRTCUpgrader implements Startable {
  readonly [Symbol.toStringTag] = '@plusone/webrtc-upgrader'
  readonly #log: Logger
  readonly #failed = new Map<string, number>()
  readonly #running = new Set<string>()
  readonly #recent: UpgradeRecord[] = []
  #started = false
  #admitted: (connection: Connection) => Promise<void> = async () => {}

  constructor(private readonly components: WebRTCUpgraderComponents) {
    this.#log = components.logger.forComponent('plusone:webrtc')
  }

  async start(): Promise<void> {
    this.#started = true
    this.components.events.addEventListener('peer:identify', this.#onIdentify)
    this.components.events.addEventListener('connection:open', this.#onOpen)
  }

  async stop(): Promise<void> {
    this.#started = false
    this.components.events.removeEventListener('peer:identify', this.#onIdentify)
    this.components.events.removeEventListener('connection:open', this.#onOpen)
  }

  /** What must hold before a new WebRTC connection replaces the relayed ones (membership). */
  setAdmission(admitted: (connection: Connection) => Promise<void>): void {
    this.#admitted = admitted
  }

  /** The last few upgrade attempts, newest first (for `plusone doctor`). */
  attempts(): UpgradeRecord[] {
    return [...this.#recent]
  }

  /**
   * A relayed connection that opens while the peer is already on WebRTC (a dial that started
   * before the upgrade, from either side) is closed too, gracefully: requests in flight on it
   * finish, new ones take the WebRTC connection.
   */
  readonly #onOpen = (evt: CustomEvent<Connection>): void => {
    const relayed = evt.detail
    if (!this.#started || relayed.limits == null) return
    const direct = this.components.connectionManager
      .getConnections(relayed.remotePeer)
      .find((c) => isWebRTC(c.remoteAddr) && c.status === 'open')
    if (direct == null) return
    this.#admitted(direct)
      .then(() => relayed.close())
      .catch(() => {})
  }

  readonly #onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const { peerId, protocols, connection } = evt.detail
    if (!this.#started || connection.limits == null || connection.direction !== 'outbound') return
    if (!protocols.includes(SIGNALING_PROTOCOL)) return
    // each side opened a relayed connection (an invitation one way, a bid the other): only the
    // lower peer id upgrades, so the pair ends up with one WebRTC connection, not two
    const both = this.components.connectionManager
      .getConnections(peerId)
      .some((c) => c.limits != null && c.direction === 'inbound')
    if (both && this.components.peerId.toString() > peerId.toString()) return
    void this.#upgrade(peerId, webrtcAddressVia(connection, peerId))
  }

  async #upgrade(peer: PeerId, target: Multiaddr): Promise<void> {
    const id = peer.toString()
    const failedAt = this.#failed.get(id)
    if (failedAt != null && Date.now() - failedAt < RETRY_AFTER_MS) return
    if (this.#running.has(id) || this.#running.size >= MAX_CONCURRENT_UPGRADES) return
    const { connectionManager } = this.components
    if (connectionManager.getConnections(peer).some((c) => c.limits == null && c.status === 'open')) return
    this.#running.add(id)
    try {
      for (let attempt = 1; attempt <= UPGRADE_ATTEMPTS && this.#started; attempt++) {
        if (await this.#attempt(peer, target, attempt === UPGRADE_ATTEMPTS)) return
      }
    } finally {
      this.#running.delete(id)
    }
  }

  /** One dial; true once the peer is on a WebRTC connection admitted by the gate. */
  async #attempt(peer: PeerId, target: Multiaddr, last: boolean): Promise<boolean> {
    const id = peer.toString()
    const { connectionManager } = this.components
    const started = Date.now()
    try {
      // straight to the transport: the connection manager would join a dial to this peer
      // already under way (through the relay) and hand back its relayed connection
      const conn = await this.components.transportManager.dial(target, {
        signal: AbortSignal.timeout(UPGRADE_TIMEOUT_MS),
      })
      if (!isWebRTC(conn.remoteAddr)) throw new Error(`the dial ended on ${conn.remoteAddr.toString()}`)
      await this.#admitted(conn)
      this.#failed.delete(id)
      for (const relayed of connectionManager.getConnections(peer)) {
        if (relayed.limits != null) relayed.close().catch((err: Error) => relayed.abort(err))
      }
      this.#record({ peer: id, ok: true, ms: Date.now() - started, at: Date.now() })
      this.#log('relayed connection to %p upgraded to WebRTC in %d ms', peer, Date.now() - started)
      return true
    } catch (err) {
      const error = `${(err as Error).name}: ${(err as Error).message}`
      this.#record({ peer: id, ok: false, ms: Date.now() - started, error, at: Date.now() })
      this.#log('WebRTC upgrade to %p failed (staying relayed): %s', peer, error)
      if (last) {
        this.#failed.set(id, Date.now())
        if (this.#failed.size > MAX_REMEMBERED)
          this.#failed.delete(this.#failed.keys().next().value as string)
      }
      return false
    }
  }

  #record(r: UpgradeRecord): void {
    this.#recent.unshift(r)
    this.#recent.length = Math.min(this.#recent.length, 8)
  }
}

/** `<relay>/p2p-circuit/webrtc/p2p/<peer>`: signalling through the relay this connection uses. */
export function webrtcAddressVia(connection: Connection, peer: PeerId): Multiaddr {
  const [relay] = connection.remoteAddr.toString().split('/p2p-circuit')
  return multiaddr(`${relay}/p2p-circuit/webrtc/p2p/${peer.toString()}`)
}

export function webRTCUpgrader(): (components: WebRTCUpgraderComponents) => WebRTCUpgrader {
  return (components) => new WebRTCUpgrader(components)
}
