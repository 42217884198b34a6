/**
 * What one peer may ask of this node's market at once and per second, over the channel and the
 * per-stream protocols together (a peer cannot escape the limits by opening more channels or
 * falling back to streams). A refused request is answered with an error; nothing is queued.
 */
import { RateLimiter } from '@libp2p/utils'

/** Requests one peer may have in flight here, all channels and streams together. */
export const MAX_PEER_REQUESTS = 256
/**
 * Requests one peer may start per second. An honest executor sends about one bid per task
 * announced and one claim per award: at 100 tasks/s that is ~130/s, so 1000 leaves room for a
 * busy submitter while keeping one peer from burning a whole core on answers.
 */
export const PEER_REQUESTS_PER_SECOND = 1000

export interface PeerLimitsInit {
  /** @default MAX_PEER_REQUESTS */
  maxInFlight?: number
  /** @default PEER_REQUESTS_PER_SECOND */
  perSecond?: number
}

export class PeerLimits {
  readonly #inflight = new Map<string, number>()
  readonly #rate: RateLimiter
  readonly #maxInFlight: number

  constructor(init: PeerLimitsInit = {}) {
    this.#maxInFlight = init.maxInFlight ?? MAX_PEER_REQUESTS
    this.#rate = new RateLimiter({ points: init.perSecond ?? PEER_REQUESTS_PER_SECOND, duration: 1 })
  }

  /**
   * Takes a slot for one request from `peer`, or says why not (then no slot is taken). Every
   * admitted request must be {@link release}d once answered.
   */
  admit(peer: string): string | undefined {
    // every request counts against the rate, refused or not: a peer that floods stays refused
    try {
      this.#rate.consume(peer)
    } catch {
      return 'too many requests per second'
    }
    const inflight = this.#inflight.get(peer) ?? 0
    if (inflight >= this.#maxInFlight) return `too many requests in flight (at most ${this.#maxInFlight})`
    this.#inflight.set(peer, inflight + 1)
    return undefined
  }

  release(peer: string): void {
    const n = (this.#inflight.get(peer) ?? 0) - 1
    if (n <= 0) this.#inflight.delete(peer)
    else this.#inflight.set(peer, n)
  }
}
