/**
 * UPnP port mapping for a home behind a router that offers it: find the router on the LAN
 * (SSDP), ask it to forward the daemon's TCP port, and add the router's external address to the
 * node's addresses. Whether that address works is not taken on trust — nor judged by its class:
 * the mapped address is advertised only once a peer has dialled it back (reachability.ts).
 *
 * Why not `@libp2p/upnp-nat`: it refuses every router whose external address is private or
 * reserved (DoubleNATError) — which is every router of a company network, a carrier-grade NAT
 * that still forwards, and the test lab's 198.18.0.0/15 — and it needs AutoNAT or trusts the
 * mapping blindly. Here the dial-back decides, so it uses the same port-mapping library directly.
 */
import { withTimeout } from '../abort.js'
import { type Gateway, type PortMapping, type UPnPNAT, upnpNat } from '@achingbrain/nat-port-mapper'
import type { ComponentLogger, Libp2pEvents, Logger, Startable, TypedEventTarget } from '@libp2p/interface'
import type { AddressManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

/** How long one search for a UPnP router on the LAN lasts. */
export const UPNP_SEARCH_TIMEOUT_MS = 5_000
/** A failed search or mapping is tried again this often (a router may be switched on later). */
export const UPNP_RETRY_MS = 60_000
/** How long a mapping is leased from the router; it is renewed before it ends. */
export const UPNP_MAPPING_TTL_MS = 60 * 60_000
/** How long a router gets to answer one request (external address, map). */
const UPNP_REQUEST_TIMEOUT_MS = 10_000

export interface UpnpComponents {
  addressManager: Pick<
    AddressManager,
    'getAddressesWithMetadata' | 'addPublicAddressMapping' | 'removePublicAddressMapping'
  >
  logger: ComponentLogger
  events: Pick<TypedEventTarget<Libp2pEvents>, 'addEventListener' | 'removeEventListener'>
}

export interface UpnpInit {
  /** What the router shows next to the mapping. @default 'plusone' */
  description?: string
  /** Called after a new mapping, so dial-back can test the mapped address at once. */
  onMapped?: () => void
  /** The port-mapping client (tests pass a fake). @default upnpNat() */
  client?: UPnPNAT
  /** @default UPNP_RETRY_MS */
  retryMs?: number
}

export interface UpnpStatus {
  /** The router that answered, as host:port, once one has. */
  gateway?: string
  /** The router's external address as it reports it. */
  externalIp?: string
  /** Addresses the router forwards to this node (`/ip4/<external>/tcp/<port>`). */
  mapped: string[]
  /** Why the last attempt failed, in words. */
  error?: string
}

/** The router did not answer on the LAN. */
export class NoUpnpRouterError extends Error {
  static name = 'NoUpnpRouterError'
  name = 'NoUpnpRouterError'
}

/** The IPv4 TCP addresses this node listens on (loopback and link-local marked as such). */
function listeningTcp(
  addrs: Array<{ multiaddr: Multiaddr; type: string }>,
): Array<{ host: string; port: number; local: boolean }> {
  const out: Array<{ host: string; port: number; local: boolean }> = []
  for (const { multiaddr, type } of addrs) {
    if (type !== 'transport') continue
    const c = multiaddr.getComponents()
    if (c.length !== 2 || c[0].name !== 'ip4' || c[1].name !== 'tcp' || c[0].value == null) continue
    const host = c[0].value
    const local = host.startsWith('127.') || host.startsWith('169.254.') || host === '0.0.0.0'
    out.push({ host, port: Number(c[1].value), local })
  }
  return out
}

export class UpnpPortMapper implements Startable {
  readonly [Symbol.toStringTag] = '@plusone/upnp'
  readonly #log: Logger
  readonly #client: UPnPNAT
  readonly #mapped = new Map<string, PortMapping>()
  #gateway?: Gateway
  #externalIp?: string
  #error?: string
  #controller = new AbortController()
  #timer?: NodeJS.Timeout
  #attempting = false

  constructor(
    private readonly components: UpnpComponents,
    private readonly init: UpnpInit = {},
  ) {
    this.#log = components.logger.forComponent('plusone:upnp')
    this.#client =
      init.client ??
      upnpNat({ description: init.description ?? 'plusone', ttl: UPNP_MAPPING_TTL_MS, autoRefresh: true })
  }

  status(): UpnpStatus {
    return {
      gateway: this.#gateway == null ? undefined : `${this.#gateway.host}:${this.#gateway.port}`,
      externalIp: this.#externalIp,
      mapped: [...this.#mapped.values()].map((m) => `/ip4/${m.externalHost}/tcp/${m.externalPort}`),
      error: this.#error,
    }
  }

  async start(): Promise<void> {
    this.#controller = new AbortController()
  }

  /**
   * Transports start listening only after every service has started, in no fixed order: map
   * their ports once they listen (now, or at the next `transport:listening`).
   */
  afterStart(): void {
    this.components.events.addEventListener('transport:listening', this.#onListening)
    this.#onListening()
  }

  readonly #onListening = (): void => {
    if (this.#attempting || this.#timer != null || this.#mapped.size > 0) return
    if (listeningTcp(this.components.addressManager.getAddressesWithMetadata()).length === 0) return
    void this.#attempt()
  }

  async stop(): Promise<void> {
    this.components.events.removeEventListener('transport:listening', this.#onListening)
    this.#controller.abort()
    clearTimeout(this.#timer)
    for (const m of this.#mapped.values()) {
      this.components.addressManager.removePublicAddressMapping(
        m.internalHost,
        m.internalPort,
        m.externalHost,
        m.externalPort,
        'tcp',
      )
    }
    this.#mapped.clear()
    // a router keeps a mapping until its lease ends: give it back now
    await this.#gateway?.stop({ signal: AbortSignal.timeout(1_000) }).catch(() => {})
  }

  async #attempt(): Promise<void> {
    this.#timer = undefined
    const signal = this.#controller.signal
    if (this.#toMap().length === 0) {
      // listening on loopback only: no router could forward to it, and none is asked
      this.#error = 'nothing to forward: this node listens on loopback only'
      return
    }
    this.#attempting = true
    try {
      if (await this.#mapOnce(signal)) this.init.onMapped?.()
      this.#error = undefined
    } catch (err) {
      if (signal.aborted) return
      this.#error = (err as Error).message
      this.#log('UPnP port mapping failed: %s', this.#error)
    } finally {
      this.#attempting = false
    }
    if (signal.aborted || (this.#mapped.size > 0 && this.#error == null)) return
    this.#timer = setTimeout(() => void this.#attempt(), this.init.retryMs ?? UPNP_RETRY_MS)
    this.#timer.unref?.()
  }

  #toMap(): Array<{ host: string; port: number }> {
    return listeningTcp(this.components.addressManager.getAddressesWithMetadata()).filter((a) => !a.local)
  }

  /** Maps every unmapped local TCP port; returns whether a new mapping was made. */
  async #mapOnce(signal: AbortSignal): Promise<boolean> {
    const gateway = this.#gateway ?? (await this.#find(signal))
    this.#gateway = gateway
    const request = <T>(fn: (s: AbortSignal) => Promise<T>): Promise<T> =>
      withTimeout(signal, UPNP_REQUEST_TIMEOUT_MS, fn)
    this.#externalIp = await request((s) => gateway.externalIp({ signal: s }))
    let added = false
    for (const { host, port } of this.#toMap()) {
      const key = `${host}:${port}`
      if (this.#mapped.has(key)) continue
      const m = await request((s) => gateway.map(port, host, { protocol: 'TCP', signal: s }))
      this.#mapped.set(key, m)
      this.components.addressManager.addPublicAddressMapping(
        m.internalHost,
        m.internalPort,
        m.externalHost,
        m.externalPort,
        'tcp',
      )
      this.#log('router %s forwards %s:%d to %s:%d', gateway.host, m.externalHost, m.externalPort, host, port)
      added = true
    }
    return added
  }

  async #find(signal: AbortSignal): Promise<Gateway> {
    try {
      const found = await withTimeout(signal, UPNP_SEARCH_TIMEOUT_MS, async (search) => {
        for await (const gateway of this.#client.findGateways({ signal: search })) {
          if (gateway.family === 'IPv4') return gateway
        }
      })
      if (found != null) return found
    } catch (err) {
      if (signal.aborted) throw err
    }
    throw new NoUpnpRouterError(
      `no UPnP router answered on the LAN within ${UPNP_SEARCH_TIMEOUT_MS / 1000} s (the router may not offer UPnP, or has it switched off)`,
    )
  }
}

export function upnpPortMapper(init: UpnpInit = {}): (components: UpnpComponents) => UpnpPortMapper {
  return (components) => new UpnpPortMapper(components, init)
}
