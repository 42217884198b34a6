import type { ComponentLogger, Logger, PeerId, PrivateKey } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { type Capacity, capacityKey, signCapacity, verifyCapacity } from './record.js'

/** The capability string every plusone executor provides; submitters find executors by its CID. */
export const RUNTIME_CAPABILITY = 'plusone/runtime/wasm/1'
/** @default 30 minutes */
export const CAPACITY_TTL_MS = 30 * 60 * 1000
const FIRST_RETRY_MS = 100
const MAX_RETRY_MS = 10_000
const LOOKUP_CONCURRENCY = 16
const MAX_CACHED_RECORDS = 10_000

export async function capabilityCid(capability = RUNTIME_CAPABILITY): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(capability)))
}

/** What the operator offers; published as the node's capacity record. */
export interface Offer {
  cores: number
  memoryMB: number
  features: string[]
  /** Ask in micro-credits per Gfuel. */
  price: number
  maxTasks: number
}

export interface CapacityServiceInit {
  offer: Offer
  version: string
  /** How long a published record lives; it is refreshed at half this. @default CAPACITY_TTL_MS */
  ttlMs?: number
}

export interface CapacityServiceComponents {
  privateKey: PrivateKey
  peerId: PeerId
  dht: KadDHT
  logger: ComponentLogger
  /** Peers currently connected; also lookup candidates besides the providers found. */
  connectedPeers(): PeerId[]
  /** Subscribe to "a peer connected" so the record reaches newcomers; returns an unsubscribe. */
  onPeerConnect(fn: () => void): () => void
}

export interface FindOptions {
  signal?: AbortSignal
}

/**
 * Publishes this node's signed capacity record under `/plusone-cap/<peerId>` and provides the
 * runtime capability CID; finds other nodes' records through the DHT.
 *
 * Publication retries with backoff until at least one peer stores the record, republishes when
 * the set of connected peers has doubled since the last put (so records reach the peers closest
 * to their key as the mesh grows), at half the TTL, and whenever the offer changes.
 */
export class CapacityService {
  private readonly log: Logger
  private readonly ttlMs: number
  private offer: Offer
  private seq = 0
  private timer?: NodeJS.Timeout
  private retryMs = FIRST_RETRY_MS
  private peersAtLastPut = 0
  private publishing?: Promise<void>
  private dirty = false
  private stopped = true
  private unsubscribe?: () => void
  private readonly controller = new AbortController()
  private readonly cache = new Map<string, Capacity>()
  private published?: Capacity

  constructor(
    private readonly components: CapacityServiceComponents,
    private readonly init: CapacityServiceInit,
  ) {
    this.log = components.logger.forComponent('plusone:capacity')
    this.ttlMs = init.ttlMs ?? CAPACITY_TTL_MS
    this.offer = init.offer
  }

  start(): void {
    this.stopped = false
    this.unsubscribe = this.components.onPeerConnect(() => {
      const peers = this.components.connectedPeers().length
      if (this.published == null || peers >= Math.max(2, this.peersAtLastPut * 2)) this.schedule(0)
    })
    this.schedule(0)
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.unsubscribe?.()
    clearTimeout(this.timer)
    this.controller.abort()
    await this.publishing?.catch(() => {})
  }

  /** The record this node last published successfully, if any. */
  get current(): Capacity | undefined {
    return this.published
  }

  get currentOffer(): Offer {
    return this.offer
  }

  /** Changes the offer and republishes at once. */
  setOffer(offer: Offer): void {
    this.offer = offer
    this.schedule(0)
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return
    if (this.publishing != null) {
      this.dirty = true
      return
    }
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.runPublish(), delayMs)
    this.timer.unref?.()
  }

  private runPublish(): void {
    this.publishing = this.publishOnce()
      .then((stored) => {
        if (stored > 0) {
          this.retryMs = FIRST_RETRY_MS
          return this.ttlMs / 2
        }
        const wait = this.retryMs
        this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS)
        return wait
      })
      .catch((err: Error) => {
        if (!this.stopped) this.log.error('publishing capacity failed: %s', err.message)
        const wait = this.retryMs
        this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS)
        return wait
      })
      .then((wait) => {
        this.publishing = undefined
        if (this.dirty) {
          this.dirty = false
          this.schedule(0)
        } else {
          this.schedule(wait)
        }
      })
  }

  /** Puts a fresh record and provides the capability CID; returns how many peers stored it. */
  private async publishOnce(): Promise<number> {
    const { privateKey, peerId, dht } = this.components
    const now = Date.now()
    const nextSeq = Math.max(now, this.seq + 1)
    this.seq = nextSeq
    const cap = { ...this.offer, seq: nextSeq, expiresAt: now + this.ttlMs, version: this.init.version }
    const value = await signCapacity(privateKey, cap)
    const key = capacityKey(peerId.toString())
    // check our own record exactly as remote peers will, so a bad offer fails loudly here
    const verified = await verifyCapacity(key, value)
    this.peersAtLastPut = this.components.connectedPeers().length
    const signal = this.controller.signal
    let stored = 0
    for await (const ev of dht.put(key, value, { signal })) {
      if (ev.name === 'PEER_RESPONSE' && ev.messageName === 'PUT_VALUE') stored++
      if (ev.name === 'QUERY_ERROR') this.log('put to a peer failed: %s', ev.error.message)
    }
    if (stored > 0) {
      this.published = { ...verified }
      this.cache.set(verified.peerId, verified)
      for await (const _ of dht.provide(await capabilityCid(), { signal })) {
        // drain: provide progresses as the iterator is consumed
      }
      this.log('published capacity seq %s to %d peers', nextSeq, stored)
    }
    return stored
  }

  /** Gets one peer's capacity record from the DHT; undefined when none is found or valid. */
  async find(peerId: string, options: FindOptions = {}): Promise<Capacity | undefined> {
    const key = capacityKey(peerId)
    let best: Capacity | undefined
    // the first valid record ends the walk: only its owner can sign a newer one, and waiting
    // for the whole query to drain costs many round trips for a rarely-newer record
    const done = new AbortController()
    const signal = options.signal == null ? done.signal : AbortSignal.any([options.signal, done.signal])
    try {
      for await (const ev of this.components.dht.get(key, { signal })) {
        if (ev.name !== 'VALUE') continue
        try {
          best = await verifyCapacity(key, ev.value)
          break
        } catch (err) {
          this.log('ignored a bad capacity record for %s: %s', peerId, (err as Error).message)
        }
      }
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      if (!done.signal.aborted) this.log('lookup of %s failed: %s', peerId, (err as Error).message)
    } finally {
      done.abort()
    }
    if (best != null) this.remember(best)
    return best
  }

  /** Peer ids that provide the runtime capability, found through the DHT. */
  async findProviders(options: FindOptions = {}): Promise<string[]> {
    const found = new Set<string>()
    const self = this.components.peerId.toString()
    try {
      for await (const ev of this.components.dht.findProviders(await capabilityCid(), {
        signal: options.signal,
      })) {
        if (ev.name !== 'PROVIDER') continue
        for (const p of ev.providers) if (p.id.toString() !== self) found.add(p.id.toString())
      }
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      this.log('provider lookup failed: %s', (err as Error).message)
    }
    return [...found]
  }

  /**
   * Every capacity record this node can find through the DHT: the capability's providers plus
   * connected peers, each looked up under its own key. Includes this node's own record.
   */
  async findAll(options: FindOptions = {}): Promise<Capacity[]> {
    const candidates = new Set<string>(await this.findProviders(options))
    for (const p of this.components.connectedPeers()) candidates.add(p.toString())
    candidates.add(this.components.peerId.toString())
    const ids = [...candidates]
    const out: Capacity[] = []
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++]
        const cap = await this.find(id, options)
        if (cap != null) out.push(cap)
      }
    }
    await Promise.all(Array.from({ length: Math.min(LOOKUP_CONCURRENCY, ids.length) }, worker))
    return out.sort((a, b) => a.peerId.localeCompare(b.peerId))
  }

  /** Records seen recently and not yet expired, without touching the network. */
  known(now = Date.now()): Capacity[] {
    const out: Capacity[] = []
    for (const [id, cap] of this.cache) {
      if (cap.expiresAt <= now) this.cache.delete(id)
      else out.push(cap)
    }
    return out
  }

  private remember(cap: Capacity): void {
    if (!this.cache.has(cap.peerId) && this.cache.size >= MAX_CACHED_RECORDS) {
      const oldest = this.cache.keys().next().value
      if (oldest != null) this.cache.delete(oldest)
    }
    this.cache.set(cap.peerId, cap)
  }
}
