/**
 * An in-memory network for the market: N nodes in one process, no sockets. Each node gets a
 * MarketTransport (request/response) and a gossip endpoint shaped like gossipsub's (what the market
 * and the ledger's settlement read), so the real Market, QuorumTask and SettlementService run on it.
 *
 * Gossip here is a flood to every reachable subscriber: one message per receiver, which is what a
 * single gossipsub topic costs in deliveries. Messages take `latencyMs` (a number or a function of
 * the two peers), are dropped with probability `loss`, and never cross a partition. Every delivery
 * is counted, per kind and per receiving node, for tests and benchmarks.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { PeerUnreachableError } from './errors.js'
import type { HandleOptions, MarketTransport, RemotePeer, RequestHandler } from './transport.js'
import type { GossipMessage, MarketPubSub } from './types.js'

export interface InMemoryNetworkInit {
  /** One-way delay of every message, ms. @default 0 */
  latencyMs?: number | ((from: string, to: string) => number)
  /** Probability in [0, 1) that a message is lost. @default 0 */
  loss?: number
  /** Uniform values in [0, 1) for loss; tests pass a seeded one. @default Math.random */
  random?: () => number
}

export interface NetworkCounters {
  /** Requests delivered (bids, claims). */
  requests: number
  replies: number
  /** Gossip deliveries: one per receiving node. */
  gossip: number
  /** Messages lost or stopped by a partition. */
  dropped: number
  /** Messages delivered to each node, by peer id. */
  inbound: Map<string, number>
  /** Messages by protocol or topic. */
  byChannel: Map<string, number>
}

/** The gossip endpoint of one in-memory node (the parts of gossipsub the market and ledger use). */
export interface InMemoryPubSub extends MarketPubSub {
  getSubscribers(topic: string): string[]
  addEventListener(type: string, listener: (evt: CustomEvent) => void): void
  removeEventListener(type: string, listener: (evt: CustomEvent) => void): void
}

export interface InMemoryNode {
  peer: string
  transport: MarketTransport
  pubsub: InMemoryPubSub
}

interface Member {
  address: string
  handlers: Map<string, { handler: RequestHandler; options: HandleOptions }>
  topics: Set<string>
  events: EventTarget
}

export class InMemoryNetwork {
  readonly counters: NetworkCounters = {
    requests: 0,
    replies: 0,
    gossip: 0,
    dropped: 0,
    inbound: new Map(),
    byChannel: new Map(),
  }
  readonly #members = new Map<string, Member>()
  /** Peer → its side of the current partition; peers on different sides cannot talk. */
  #side = new Map<string, number>()
  readonly #latency: (from: string, to: string) => number
  readonly #loss: number
  readonly #random: () => number
  readonly #timers = new Set<NodeJS.Timeout>()

  constructor(init: InMemoryNetworkInit = {}) {
    const l = init.latencyMs ?? 0
    this.#latency = typeof l === 'number' ? () => l : l
    this.#loss = init.loss ?? 0
    this.#random = init.random ?? Math.random
  }

  /** Adds a node; `peer` must be a peer id string (the market signs with its key). */
  join(
    peer: string,
    address = `/ip4/198.18.${(this.#members.size >> 8) & 255}.${this.#members.size & 255}/tcp/4001`,
  ): InMemoryNode {
    const member: Member = { address, handlers: new Map(), topics: new Set(), events: new EventTarget() }
    this.#members.set(peer, member)
    return { peer, transport: this.#transport(peer), pubsub: this.#pubsub(peer, member) }
  }

  /** Removes a node: it is unreachable from now on (a crash or a clean stop). */
  leave(peer: string): void {
    this.#members.delete(peer)
  }

  /** Splits the network: peers in different groups cannot reach each other; unlisted peers join the first. */
  partition(...groups: string[][]): void {
    this.#side = new Map()
    groups.forEach((g, i) => {
      for (const p of g) this.#side.set(p, i)
    })
  }

  heal(): void {
    this.#side = new Map()
  }

  /** Stops every message in flight (their receivers never see them). */
  close(): void {
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
  }

  reachable(from: string, to: string): boolean {
    return this.#members.has(to) && (this.#side.get(from) ?? 0) === (this.#side.get(to) ?? 0)
  }

  /** Delivers after the latency unless lost or partitioned; `onLost` runs instead when it is not. */
  #send(from: string, to: string, channel: string, deliver: () => void, onLost?: () => void): void {
    if (!this.reachable(from, to) || (this.#loss > 0 && this.#random() < this.#loss)) {
      this.counters.dropped++
      onLost?.()
      return
    }
    const t = setTimeout(
      () => {
        this.#timers.delete(t)
        if (!this.reachable(from, to)) {
          this.counters.dropped++
          onLost?.()
          return
        }
        this.counters.inbound.set(to, (this.counters.inbound.get(to) ?? 0) + 1)
        this.counters.byChannel.set(channel, (this.counters.byChannel.get(channel) ?? 0) + 1)
        deliver()
      },
      this.#latency(from, to),
    )
    this.#timers.add(t)
  }

  #transport(self: string): MarketTransport {
    return {
      handle: async (protocol, handler, options) => {
        this.#members.get(self)?.handlers.set(protocol, { handler, options })
      },
      unhandle: async (protocol) => {
        this.#members.get(self)?.handlers.delete(protocol)
      },
      request: (peer, protocol, body, { maxReplyBytes, signal }) =>
        new Promise<Uint8Array>((resolve, reject) => {
          const unreachable = (): void => reject(new PeerUnreachableError(`${peer} is unreachable`))
          const onAbort = (): void => reject(signal.reason)
          if (signal.aborted) return onAbort()
          signal.addEventListener('abort', onAbort, { once: true })
          const settle = (fn: () => void): void => {
            signal.removeEventListener('abort', onAbort)
            fn()
          }
          this.#send(
            self,
            peer,
            protocol,
            () => {
              this.counters.requests++
              const served = this.#members.get(peer)?.handlers.get(protocol)
              if (served == null || body.byteLength > served.options.maxRequestBytes) {
                settle(() => reject(new PeerUnreachableError(`${peer} does not serve ${protocol}`)))
                return
              }
              const from: RemotePeer = { peer: self, address: this.#members.get(self)?.address }
              served
                .handler(body, from, AbortSignal.timeout(served.options.timeoutMs))
                .then((reply) => {
                  this.#send(
                    peer,
                    self,
                    `${protocol} reply`,
                    () => {
                      this.counters.replies++
                      if (reply.byteLength > maxReplyBytes)
                        settle(() => reject(new Error('reply over the size limit')))
                      else settle(() => resolve(reply))
                    },
                    () => settle(unreachable),
                  )
                })
                .catch((err: Error) => settle(() => reject(err)))
            },
            () => settle(unreachable),
          )
        }),
    }
  }

  #pubsub(self: string, member: Member): InMemoryPubSub {
    const changed = (topic: string, subscribe: boolean): void => {
      for (const [peer, m] of this.#members) {
        if (peer === self || !this.reachable(self, peer)) continue
        const detail = { peerId: peerIdFromString(self), subscriptions: [{ topic, subscribe }] }
        m.events.dispatchEvent(new CustomEvent('subscription-change', { detail }))
      }
    }
    return {
      subscribe: (topic) => {
        member.topics.add(topic)
        changed(topic, true)
      },
      unsubscribe: (topic) => {
        member.topics.delete(topic)
        changed(topic, false)
      },
      publish: async (topic, data) => {
        for (const [peer, m] of this.#members) {
          if (peer === self || !m.topics.has(topic)) continue
          this.#send(self, peer, topic, () => {
            this.counters.gossip++
            const detail: GossipMessage = { type: 'signed', topic, data }
            m.events.dispatchEvent(new CustomEvent('message', { detail }))
          })
        }
      },
      getSubscribers: (topic) =>
        [...this.#members]
          .filter(([peer, m]) => peer !== self && m.topics.has(topic) && this.reachable(self, peer))
          .map(([peer]) => peer),
      addEventListener: (type: string, listener: (evt: CustomEvent) => void) =>
        member.events.addEventListener(type, listener as (evt: Event) => void),
      removeEventListener: (type: string, listener: (evt: CustomEvent) => void) =>
        member.events.removeEventListener(type, listener as (evt: Event) => void),
    }
  }
}
