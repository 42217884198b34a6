/**
 * Circuit relay v2 for plusone: a reachable node relays for homes that nobody can dial, and a
 * home holds reservations on a few relays so others reach it through them.
 *
 * libp2p's default limits (128 KiB and 2 minutes per relayed connection) are made for
 * signalling, not for plusone's traffic: a task module or input of several MiB would reset the
 * relayed connection mid-transfer. The limits below fit a job's blobs while capping what one
 * relay gives away: how many homes it serves, how much each relayed connection may carry and for
 * how long. A connection that reaches a limit is closed; the next request opens a new one.
 */
import {
  type CircuitRelayServerComponents,
  type CircuitRelayService,
  circuitRelayServer,
} from '@libp2p/circuit-relay-v2'
import type { ComponentLogger, Listener, Logger, PeerStore, Startable } from '@libp2p/interface'
import type { TransportManager } from '@libp2p/interface-internal'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'

export type RelayMode = 'auto' | 'on' | 'off'
export const RELAY_MODES: readonly RelayMode[] = ['auto', 'on', 'off']

/** Homes one relay holds reservations for. */
export const RELAY_MAX_RESERVATIONS = 32
/** How long a reservation lasts before the home must renew it. */
export const RELAY_RESERVATION_TTL_MS = 60 * 60_000
/** Bytes one relayed connection may carry (both directions) before the relay closes it. */
export const RELAY_DATA_LIMIT_BYTES = 64 * 1024 * 1024
/** How long one relayed connection may stay open. */
export const RELAY_DURATION_LIMIT_MS = 10 * 60_000
/** Relayed connections being set up at once (hop streams per connection to the relay). */
export const RELAY_MAX_HOP_STREAMS = 64
/** Relays a home reserves a slot on. */
export const HOME_RESERVATIONS = 2

/**
 * A relay server that starts serving only when told: with `--relay auto` a node becomes a relay
 * once dial-back says it is reachable (a relay nobody can dial helps nobody, and advertising the
 * hop protocol before would send homes to it in vain).
 */
export class SwitchableRelay implements Startable {
  readonly [Symbol.toStringTag] = '@plusone/relay'
  #active = false
  #started = false

  constructor(
    private readonly inner: CircuitRelayService & Startable,
    private readonly mode: RelayMode,
  ) {}

  /** Whether this node currently relays for others. */
  get active(): boolean {
    return this.#active
  }

  /** Peers holding a reservation here. */
  reservations(): string[] {
    return [...this.inner.reservations.keys()].map((p) => p.toString())
  }

  async start(): Promise<void> {
    this.#started = true
    if (this.mode === 'on') await this.activate()
  }

  async activate(): Promise<void> {
    if (this.#active || !this.#started || this.mode === 'off') return
    this.#active = true
    await this.inner.start()
  }

  async stop(): Promise<void> {
    this.#started = false
    if (this.#active) await this.inner.stop()
    this.#active = false
  }
}

export function switchableRelay(
  mode: RelayMode,
): (components: CircuitRelayServerComponents) => SwitchableRelay {
  const factory = circuitRelayServer({
    reservations: {
      maxReservations: RELAY_MAX_RESERVATIONS,
      reservationTtl: RELAY_RESERVATION_TTL_MS,
      applyDefaultLimit: true,
      defaultDataLimit: BigInt(RELAY_DATA_LIMIT_BYTES),
      defaultDurationLimit: RELAY_DURATION_LIMIT_MS,
    },
    maxInboundHopStreams: RELAY_MAX_HOP_STREAMS,
    maxOutboundHopStreams: RELAY_MAX_HOP_STREAMS,
  })
  return (components) => new SwitchableRelay(factory(components) as CircuitRelayService & Startable, mode)
}

interface HomeRelaysComponents {
  transportManager: Pick<TransportManager, 'listen' | 'getListeners'>
  peerStore: Pick<PeerStore, 'merge'>
  logger: ComponentLogger
}

/**
 * The peer id of the relay a circuit address goes through (`…/p2p/<relay>/p2p-circuit…`), or
 * undefined for an address that is not a circuit through a named relay.
 */
export function relayOf(ma: Multiaddr): string | undefined {
  const parts = ma.toString().split('/p2p-circuit')
  if (parts.length < 2) return undefined
  return /\/p2p\/([^/]+)$/.exec(parts[0])?.[1]
}

/** The relays named by the circuit addresses among `addrs` (a home's advertised ones: the relays it holds). */
export function relaysIn(addrs: readonly Multiaddr[]): Set<string> {
  const out = new Set<string>()
  for (const a of addrs) {
    const id = relayOf(a)
    if (id != null) out.add(id)
  }
  return out
}

/** The tag libp2p's relay transport puts on a relay it holds a reservation on (keeps it connected). */
const RELAY_KEEP_ALIVE_TAG = 'keep-alive-circuit-relay'

/**
 * A home's side: once dial-back says nobody can dial us, listen on `/p2p-circuit` once per
 * wanted reservation. libp2p's relay transport then finds relays among connected peers and
 * through the DHT's random walk, reserves a slot on each, advertises the relay addresses and,
 * when a relay goes away, looks for another to take its place.
 *
 * Once dial-back says others can dial us after all (a UPnP mapping a peer reached), the
 * reservations are dropped (`release`): they are not renewed, their addresses are no longer
 * advertised, and the relay may close its connection to us. A relay in circuit relay v2 learns
 * of it when the connection closes or the reservation's time runs out (there is no message to
 * give a slot back). Should the node become private again, `reserve` starts over.
 */
export class HomeRelays implements Startable {
  readonly [Symbol.toStringTag] = '@plusone/home-relays'
  /** The relay listeners this service opened (libp2p has no handle to close one by address). */
  readonly #listeners = new Set<Listener>()
  #listening = false
  readonly #log: Logger

  constructor(private readonly components: HomeRelaysComponents) {
    this.#log = components.logger.forComponent('plusone:home-relays')
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  /** Whether this node is listening on relays (between `reserve` and `release`). */
  get reserving(): boolean {
    return this.#listening
  }

  async reserve(count = HOME_RESERVATIONS): Promise<void> {
    if (this.#listening) return
    this.#listening = true
    await this.#listen(Array.from({ length: count }, () => multiaddr('/p2p-circuit')))
  }

  /**
   * Reserves a slot on one known relay (`/ip4/…/tcp/…/p2p/<relay>`). libp2p's relay discovery
   * only considers peers as they connect; a peer that became a relay after we connected to it
   * (dial-back confirmed it later) would otherwise never be used.
   */
  async reserveOn(relay: Multiaddr): Promise<void> {
    await this.#listen([relay.encapsulate('/p2p-circuit')])
  }

  /** Drops every reservation this node holds; returns the relays it held. */
  async release(): Promise<string[]> {
    this.#listening = false
    const listeners = [...this.#listeners]
    const relays = relaysIn(listeners.flatMap((l) => l.getAddrs()))
    this.#listeners.clear()
    await Promise.all(listeners.map((l) => l.close().catch(() => {})))
    // the relay connection may be closed like any other now (unless something else keeps it)
    for (const relay of relays) {
      await this.components.peerStore
        .merge(peerIdFromString(relay), { tags: { [RELAY_KEEP_ALIVE_TAG]: undefined } })
        .catch(() => {})
    }
    if (listeners.length > 0)
      this.#log('dropped the reservations on %d relay(s): %s', relays.size, [...relays])
    return [...relays]
  }

  async #listen(addrs: Multiaddr[]): Promise<void> {
    const before = new Set(this.components.transportManager.getListeners())
    try {
      await this.components.transportManager.listen(addrs)
    } finally {
      for (const l of this.components.transportManager.getListeners())
        if (!before.has(l) && isRelayListener(l)) this.#listeners.add(l)
    }
  }
}

/** A listener of the relay transport (its addresses, once it has any, are relay addresses). */
function isRelayListener(l: Listener): boolean {
  return l.getAddrs().every((a) => a.toString().includes('/p2p-circuit') && !a.toString().includes('/webrtc'))
}

export function homeRelays(): (components: HomeRelaysComponents) => HomeRelays {
  return (components) => new HomeRelays(components)
}
