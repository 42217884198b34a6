/**
 * Reachability by dial-back: a node asks peers it is connected to to open a *new* connection to
 * each of its own TCP addresses (`/plusone/dialback/1.0.0`). An address some peer reached is
 * confirmed; a node with a confirmed address is `public` (others can dial it), one whose helpers
 * reached none of its addresses is `private` (behind NAT or a firewall), and `unknown` until a
 * helper has answered. Address class does not matter: a LAN, loopback or test-range address that
 * a peer actually dialled is as good as a public one (private swarms often live on company LANs).
 *
 * The helper dials only addresses on the IP it sees the asker's connection come from, never a
 * third party's, answers at most one request per peer per `SERVE_INTERVAL_MS`, runs at most
 * `MAX_CONCURRENT_SERVES` at once and never over a relayed connection. It never dials from its
 * listening port (Node cannot), so this tests exactly what matters: can a stranger dial in.
 *
 * What is advertised follows from it (`announce`): loopback only where nothing else exists;
 * while `unknown` every direct address; once `public` only confirmed ones, and no relay
 * address; once `private` no direct address at all — relay addresses (and UPnP mappings, once
 * confirmed) instead.
 */
import { withTimeout } from '../abort.js'
import type {
  ComponentLogger,
  Connection,
  IdentifyResult,
  Libp2pEvents,
  Logger,
  PeerId,
  Startable,
  Stream,
  TypedEventTarget,
} from '@libp2p/interface'
import type { AddressManager, ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { pbStream } from '@libp2p/utils'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { DialBackRequest, DialBackResponse } from '../pb/reachability.js'

export const DIALBACK_PROTOCOL = '/plusone/dialback/1.0.0'
/** Addresses one request may ask about. */
export const MAX_DIALBACK_ADDRS = 8
const MAX_ADDR_BYTES = 256
const MAX_MESSAGE_BYTES = MAX_DIALBACK_ADDRS * (MAX_ADDR_BYTES + 4) + 512
/** A helper answers one peer at most this often. */
export const SERVE_INTERVAL_MS = 10_000
const MAX_CONCURRENT_SERVES = 4
/** One dial-back attempt to one address. */
const DIAL_TIMEOUT_MS = 10_000
const REQUEST_TIMEOUT_MS = 3 * DIAL_TIMEOUT_MS
/** A verdict is checked again this often (addresses and routers change). */
export const RECHECK_MS = 10 * 60_000
/** Helpers who must reach none of a public node's addresses before it counts as private. */
const NEGATIVES_TO_DEMOTE = 2
/** Helpers asked per round. */
const HELPERS_PER_ROUND = 3
/** Times a refused or failed `recheck` round is repeated. */
const RETESTS = 3
/** Margin past a helper's rate limit before a refused round is repeated. */
const RETEST_SLACK_MS = 1_000
/** Peers remembered for the serve rate limit before the oldest are forgotten. */
const MAX_REMEMBERED = 1024

export type Reachability = 'public' | 'private' | 'unknown'

export interface ReachabilityComponents {
  peerId: PeerId
  addressManager: AddressManager
  connectionManager: ConnectionManager
  registrar: Registrar
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

export interface ReachabilityInit {
  /** How often a verdict is checked again. @default RECHECK_MS */
  recheckMs?: number
}

export interface ReachabilityStatus {
  reachability: Reachability
  /** Direct addresses a peer dialled back, with when. */
  confirmed: Array<{ address: string; at: number; by: string }>
  /** Helpers asked and what they answered, most recent first (at most 8). */
  answers: Array<{ helper: string; reached: number; refused?: string; error?: string; at: number }>
}

const isCircuit = (ma: Multiaddr): boolean => ma.toString().includes('/p2p-circuit')
const withoutPeer = (ma: Multiaddr): string => ma.toString().replace(/\/p2p\/[^/]+$/, '')

function tcpHost(ma: Multiaddr): { host: string; port: number } | undefined {
  const c = ma.getComponents()
  if (c.length !== 2 || (c[0].name !== 'ip4' && c[0].name !== 'ip6') || c[1].name !== 'tcp') return undefined
  const port = Number(c[1].value)
  if (c[0].value == null || !Number.isInteger(port) || port <= 0 || port > 65535) return undefined
  return { host: c[0].value, port }
}

function isLoopback(ma: Multiaddr): boolean {
  const s = ma.toString()
  return s.startsWith('/ip4/127.') || s.startsWith('/ip6/::1/')
}

export class ReachabilityService implements Startable {
  readonly [Symbol.toStringTag] = '@plusone/reachability'
  #state: Reachability = 'unknown'
  readonly #confirmed = new Map<string, { at: number; by: string }>()
  readonly #answers: ReachabilityStatus['answers'] = []
  readonly #served = new Map<string, number>()
  readonly #asked = new Map<string, number>()
  readonly #listeners = new Set<(r: Reachability) => void>()
  #serving = 0
  #negatives = 0
  #roundStarted = 0
  /** Rounds still to run for a new address whose first test a helper refused (rate limit). */
  #retests = 0
  #retestTimer?: NodeJS.Timeout
  #started = false
  #timer?: NodeJS.Timeout
  readonly #log: Logger
  readonly #recheckMs: number

  constructor(
    private readonly components: ReachabilityComponents,
    init: ReachabilityInit = {},
  ) {
    this.#log = components.logger.forComponent('plusone:reachability')
    this.#recheckMs = init.recheckMs ?? RECHECK_MS
  }

  get reachability(): Reachability {
    return this.#state
  }

  status(): ReachabilityStatus {
    return {
      reachability: this.#state,
      confirmed: [...this.#confirmed].map(([address, v]) => ({ address, ...v })),
      answers: [...this.#answers],
    }
  }

  /** Calls `fn` whenever the verdict changes; returns the unsubscribe function. */
  onChange(fn: (r: Reachability) => void): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  async start(): Promise<void> {
    await this.components.registrar.handle(DIALBACK_PROTOCOL, (s, c) => this.#serve(s, c), {
      maxInboundStreams: 2,
      maxOutboundStreams: 2,
    })
    this.components.events.addEventListener('peer:identify', this.#onIdentify)
    this.#started = true
    this.#timer = setInterval(() => this.#recheck(), this.#recheckMs)
    this.#timer.unref?.()
  }

  async stop(): Promise<void> {
    this.#started = false
    clearInterval(this.#timer)
    clearTimeout(this.#retestTimer)
    this.components.events.removeEventListener('peer:identify', this.#onIdentify)
    await this.components.registrar.unhandle(DIALBACK_PROTOCOL)
  }

  /**
   * The addresses to advertise, given everything libp2p would (see the file comment). Used as
   * libp2p's `announceFilter`, so identify, the DHT and mDNS all follow it.
   */
  announce(addrs: Multiaddr[]): Multiaddr[] {
    const circuit = addrs.filter(isCircuit)
    const direct = addrs.filter((a) => !isCircuit(a))
    const routable = direct.filter((a) => !isLoopback(a))
    const base = routable.length > 0 ? routable : direct
    const confirmed = base.filter((a) => this.#confirmed.has(withoutPeer(a)))
    switch (this.#state) {
      case 'unknown':
        return [...base, ...circuit]
      case 'public':
        // a node others can dial needs no relay (its reservations are being dropped)
        return confirmed
      case 'private':
        return [...confirmed, ...circuit]
    }
  }

  #set(state: Reachability): void {
    if (state === this.#state) return
    this.#log('reachability %s -> %s', this.#state, state)
    this.#state = state
    for (const fn of this.#listeners) fn(state)
  }

  readonly #onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const { peerId, protocols, connection } = evt.detail
    if (!this.#started || !protocols.includes(DIALBACK_PROTOCOL) || connection.limits != null) return
    if (this.#state !== 'unknown' && Date.now() - this.#roundStarted < this.#recheckMs) return
    void this.#ask(peerId, connection)
  }

  /**
   * Asks connected peers again now: a new address (a UPnP mapping) needs testing. A helper that
   * answered us within its rate limit refuses; then the round is repeated once that has passed.
   */
  recheck(): void {
    if (!this.#started) return
    this.#retests = RETESTS
    this.#recheck()
  }

  #retestLater(): void {
    if (this.#retests <= 0 || this.#retestTimer != null || !this.#started) return
    this.#retests--
    this.#retestTimer = setTimeout(() => {
      this.#retestTimer = undefined
      this.#recheck()
    }, SERVE_INTERVAL_MS + RETEST_SLACK_MS)
    this.#retestTimer.unref?.()
  }

  #recheck(): void {
    this.#roundStarted = 0
    this.#asked.clear()
    for (const c of this.components.connectionManager.getConnections()) {
      if (c.limits == null && c.status === 'open') void this.#ask(c.remotePeer, c)
    }
  }

  /** The direct TCP addresses worth testing: what libp2p knows of ours, relays aside. */
  #candidates(): Multiaddr[] {
    const seen = new Set<string>()
    const out: Multiaddr[] = []
    for (const { multiaddr: ma } of this.components.addressManager.getAddressesWithMetadata()) {
      const bare = multiaddr(withoutPeer(ma))
      if (isCircuit(bare) || tcpHost(bare) == null || seen.has(bare.toString())) continue
      seen.add(bare.toString())
      out.push(bare)
    }
    return out.slice(0, MAX_DIALBACK_ADDRS)
  }

  async #ask(peer: PeerId, connection: Connection): Promise<void> {
    const id = peer.toString()
    const now = Date.now()
    if (this.#roundStarted === 0 || now - this.#roundStarted > this.#recheckMs) {
      this.#roundStarted = now
      this.#asked.clear()
    }
    if (this.#asked.has(id) || this.#asked.size >= HELPERS_PER_ROUND) return
    this.#asked.set(id, now)
    const addrs = this.#candidates()
    // a node that listens on loopback only serves this machine: nobody else is meant to dial it
    if (addrs.length === 0 || addrs.every(isLoopback)) return
    const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    let stream: Stream | undefined
    try {
      stream = await connection.newStream(DIALBACK_PROTOCOL, { signal })
      const pb = pbStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
      await pb.write({ addrs: addrs.map((a) => a.bytes) }, DialBackRequest, { signal })
      const res = await pb.read(DialBackResponse, { signal })
      await stream.close({ signal }).catch(() => {})
      const asked = new Set(addrs.map((a) => a.toString()))
      const reached = res.reached
        .slice(0, MAX_DIALBACK_ADDRS)
        .map((b) => multiaddr(b).toString())
        .filter((a) => asked.has(a))
      this.#record({ helper: id, reached: reached.length, refused: res.refused || undefined, at: Date.now() })
      if (res.refused !== '') {
        this.#retestLater()
        return
      }
      if (reached.length > 0) {
        this.#retests = 0
        this.#negatives = 0
        for (const a of reached) {
          this.#confirmed.set(a, { at: Date.now(), by: id })
          // libp2p advertises a mapped or observed address only once it is verified: this is it
          this.components.addressManager.confirmObservedAddr(multiaddr(a), { ttl: 2 * this.#recheckMs })
        }
        this.#set('public')
      } else if (this.#state !== 'public' || ++this.#negatives >= NEGATIVES_TO_DEMOTE) {
        // none of our addresses answered a stranger's dial: whatever was confirmed is stale. A
        // node once confirmed public is demoted only when two helpers agree (a slow helper's
        // timeout alone must not send a reachable node looking for relays)
        this.#negatives = 0
        this.#confirmed.clear()
        this.#set('private')
        // an answer to a request sent before a new address (a UPnP mapping) existed says
        // nothing about it: a recheck goes on until a helper reached us or its rounds run out
        this.#retestLater()
      }
      this.#refreshAddresses()
    } catch (err) {
      stream?.abort(err as Error)
      this.#asked.delete(id)
      this.#record({ helper: id, reached: 0, error: (err as Error).message, at: Date.now() })
      this.#retestLater()
      this.#log('dial-back request to %p failed: %s', peer, (err as Error).message)
    }
  }

  #record(answer: ReachabilityStatus['answers'][number]): void {
    this.#answers.unshift(answer)
    this.#answers.length = Math.min(this.#answers.length, 8)
  }

  /** Makes libp2p re-read our announce filter and tell connected peers (identify push). */
  #refreshAddresses(): void {
    const am = this.components.addressManager as AddressManager & { _updatePeerStoreAddresses?: () => void }
    am._updatePeerStoreAddresses?.()
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    const peer = connection.remotePeer
    const pb = pbStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
    try {
      const req = await pb.read(DialBackRequest, { signal, limits: { addrs: MAX_DIALBACK_ADDRS } })
      const refused = this.#refusal(connection)
      if (refused != null) {
        await pb.write({ reached: [], refused }, DialBackResponse, { signal })
      } else {
        this.#serving++
        this.#served.set(peer.toString(), Date.now())
        if (this.#served.size > MAX_REMEMBERED)
          this.#served.delete(this.#served.keys().next().value as string)
        try {
          const reached = await this.#dialBack(peer, connection, req.addrs, signal)
          await pb.write({ reached, refused: '' }, DialBackResponse, { signal })
        } finally {
          this.#serving--
        }
      }
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      this.#log('dial-back for %p failed: %s', peer, (err as Error).message)
      stream.abort(err as Error)
    }
  }

  #refusal(connection: Connection): string | undefined {
    if (connection.limits != null) return 'asked over a relayed connection'
    if (tcpHost(multiaddr(withoutPeer(connection.remoteAddr))) == null)
      return 'asked over a non-TCP connection'
    const last = this.#served.get(connection.remotePeer.toString())
    if (last != null && Date.now() - last < SERVE_INTERVAL_MS) return 'asked again too soon'
    if (this.#serving >= MAX_CONCURRENT_SERVES) return 'busy'
    return undefined
  }

  async #dialBack(
    peer: PeerId,
    connection: Connection,
    addrs: Uint8Array[],
    signal: AbortSignal,
  ): Promise<Array<Uint8Array<ArrayBuffer>>> {
    const seenFrom = tcpHost(multiaddr(withoutPeer(connection.remoteAddr)))?.host
    const reached: Array<Uint8Array<ArrayBuffer>> = []
    for (const bytes of addrs.slice(0, MAX_DIALBACK_ADDRS)) {
      if (bytes.length > MAX_ADDR_BYTES) continue
      let ma: Multiaddr
      try {
        ma = multiaddr(bytes)
      } catch {
        continue
      }
      // only the address the asker's own connection comes from: never a third party
      if (tcpHost(ma)?.host !== seenFrom) continue
      try {
        const conn = await withTimeout(signal, DIAL_TIMEOUT_MS, (s) =>
          this.components.connectionManager.openConnection(ma.encapsulate(`/p2p/${peer.toString()}`), {
            force: true,
            signal: s,
          }),
        )
        const ok = conn.remotePeer.equals(peer)
        await conn.close().catch(() => {})
        if (ok) reached.push(new Uint8Array(ma.bytes))
      } catch (err) {
        this.#log('dial-back to %a failed: %s', ma, (err as Error).message)
      }
    }
    return reached
  }
}

export function reachability(
  init: ReachabilityInit = {},
): (components: ReachabilityComponents) => ReachabilityService {
  return (components) => new ReachabilityService(components, init)
}
