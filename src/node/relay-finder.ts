import { withTimeout } from '../abort.js'
import { RELAY_V2_HOP_CODEC } from '@libp2p/circuit-relay-v2'
import type { ComponentLogger, IdentifyResult, Libp2p, PeerUpdate } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { Reachability } from './reachability.js'
import { HOME_RESERVATIONS, relaysIn } from './relay.js'

/** While a home holds fewer relays than it wants, it looks for more this often. */
export const RELAY_SEARCH_INTERVAL_MS = 15_000
const DIAL_TIMEOUT_MS = 5_000
const SEARCH_TIMEOUT_MS = 20_000
/** Relays dialled per search. */
const MAX_DIALS = 4

export interface RelayFinderComponents {
  node: Pick<
    Libp2p,
    'dial' | 'getConnections' | 'getMultiaddrs' | 'addEventListener' | 'removeEventListener' | 'peerStore'
  >
  /** Reserves a slot on the relay at this address. */
  reserveOn: (relay: Multiaddr) => Promise<void>
  reachability: { readonly reachability: Reachability; onChange(fn: (r: Reachability) => void): () => void }
  /** Peer ids of nodes whose capacity records say they relay (found through the DHT). */
  findRelays: (signal: AbortSignal) => Promise<string[]>
  logger: ComponentLogger
}

/**
 * Finds relays for a home faster and more surely than libp2p's random walk: relays say so in
 * their capacity records, and connected peers announce the hop protocol when they start
 * relaying. While a node that is not reachable holds fewer reservations than it wants, it takes
 * candidates from both, connects to them and reserves a slot on each until it has enough.
 *
 * A peer usually becomes a relay *after* a home connected to it (it relays once dial-back says
 * it is reachable, and its helpers are the very homes that just connected): its identify push
 * then adds the hop protocol. libp2p's own relay discovery only looks at peers as they connect
 * and never came back to such a peer, so here a peer's update to "speaks hop" starts a search,
 * and every search also takes connected peers that speak it.
 */
export class RelayFinder {
  #timer?: NodeJS.Timeout
  #unsubscribe?: () => void
  #running = false
  readonly #controller = new AbortController()
  readonly #log

  constructor(private readonly components: RelayFinderComponents) {
    this.#log = components.logger.forComponent('plusone:relay-finder')
  }

  start(): void {
    this.#unsubscribe = this.components.reachability.onChange((r) => {
      if (r === 'private') void this.#search()
    })
    this.#timer = setInterval(() => void this.#search(), RELAY_SEARCH_INTERVAL_MS)
    this.#timer.unref?.()
    this.components.node.addEventListener('peer:identify', this.#onIdentify)
    this.components.node.addEventListener('peer:update', this.#onUpdate)
  }

  readonly #onUpdate = (evt: CustomEvent<PeerUpdate>): void => {
    const { peer, previous } = evt.detail
    if (
      peer.protocols.includes(RELAY_V2_HOP_CODEC) &&
      previous?.protocols.includes(RELAY_V2_HOP_CODEC) !== true
    )
      void this.#search([peer.id.toString()])
  }

  /** Connected peers whose identify said they relay. */
  async #connectedRelays(): Promise<string[]> {
    const out: string[] = []
    for (const c of this.components.node.getConnections()) {
      if (c.limits != null) continue
      const peer = await this.components.node.peerStore.get(c.remotePeer).catch(() => undefined)
      if (peer?.protocols.includes(RELAY_V2_HOP_CODEC) === true) out.push(c.remotePeer.toString())
    }
    return out
  }

  readonly #onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    if (evt.detail.protocols.includes(RELAY_V2_HOP_CODEC)) void this.#search([evt.detail.peerId.toString()])
  }

  stop(): void {
    this.components.node.removeEventListener('peer:identify', this.#onIdentify)
    this.components.node.removeEventListener('peer:update', this.#onUpdate)
    clearInterval(this.#timer)
    this.#unsubscribe?.()
    this.#controller.abort()
  }

  /** Relays this node holds a reservation on, read from the relay addresses it advertises. */
  held(): Set<string> {
    return relaysIn(this.components.node.getMultiaddrs())
  }

  async #search(candidates?: string[]): Promise<void> {
    if (this.#running || this.components.reachability.reachability !== 'private') return
    if (this.held().size >= HOME_RESERVATIONS) return
    this.#running = true
    try {
      await withTimeout(this.#controller.signal, SEARCH_TIMEOUT_MS, (signal) =>
        this.#searchWith(signal, candidates),
      )
    } catch (err) {
      this.#log('relay search failed: %s', (err as Error).message)
    } finally {
      this.#running = false
    }
  }

  async #searchWith(signal: AbortSignal, candidates?: string[]): Promise<void> {
    const ids = candidates ?? [
      ...new Set([...(await this.#connectedRelays()), ...(await this.components.findRelays(signal))]),
    ]
    for (const id of ids.slice(0, MAX_DIALS)) {
      if (signal.aborted || this.held().size >= HOME_RESERVATIONS) break
      if (this.held().has(id)) continue
      try {
        const conn = await withTimeout(signal, DIAL_TIMEOUT_MS, (s) =>
          this.components.node.dial(peerIdFromString(id), { signal: s }),
        )
        if (conn.limits != null) continue // a relay is useless through another relay
        // an outbound connection's remote address may already end in /p2p/<id>
        const bare = multiaddr(conn.remoteAddr.toString().replace(/\/p2p\/[^/]+$/, ''))
        await this.components.reserveOn(bare.encapsulate(`/p2p/${id}`))
        this.#log('reserved a slot on relay %s', id)
      } catch (err) {
        this.#log('no reservation on relay %s: %s', id, (err as Error).message)
      }
    }
  }
}
