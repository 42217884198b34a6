import { anySignal } from 'any-signal'
import { withTimeout } from '../abort.js'
import type { ComponentLogger, Logger, PeerId, PrivateKey } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { NetworkId } from '../network/index.js'
import { type Capacity, capacityKey, signCapacity, verifyCapacity } from './record.js'

/** The capability string every plusone executor provides; submitters find executors by its CID. */
export const RUNTIME_CAPABILITY = 'plusone/runtime/wasm/1'
/** @default 30 minutes */
export const CAPACITY_TTL_MS = 30 * 60 * 1000
const FIRST_RETRY_MS = 100
const MAX_RETRY_MS = 10_000
/** One put (or provide) may walk the DHT this long; a stuck walk must not stall publication. */
const PUBLISH_TIMEOUT_MS = 30_000
/** A lookup without a caller's signal gives up after this long. */
const FIND_TIMEOUT_MS = 30_000
/** Republish when the node has this many times the peers it had at its last put. */
const REPUBLISH_GROWTH_FACTOR = 2
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
  /** Serves circuit relay v2 for homes behind NAT. */
  relay?: boolean
}

export interface CapacityServiceInit {
  offer: Offer
  version: string
  /** How long a published record lives; it is refreshed at half this. @default CAPACITY_TTL_MS */
  ttlMs?: number
  /**
   * Look up every findable record in the background this often, so `known()` (what a stuck
   * task's explanation is built from) is current without anyone running `plusone nodes`; the
   * first survey runs a tenth of this after start. 0 turns it off. @default 0
   */
  surveyIntervalMs?: number
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
  /** The network records are signed for (network/index.ts). @default PUBLIC_NETWORK */
  network?: NetworkId
}

export interface FindOptions {
  signal?: AbortSignal
}

/**
 * Publishes this node's signed capacity record under `/plusone-cap/<peerId>` and provides the
 * runtime capability CID; finds other nodes' records through the DHT.
 *
 * Publication retries with backoff until at least one peer stores the record (each attempt
 * bounded by PUBLISH_TIMEOUT_MS), republishes when the set of connected peers has doubled since
 * the last put (so records reach the peers closest to their key as the mesh grows), at half the
 * TTL, and whenever the offer changes. The capability is provided again only when the mesh has
 * grown or at half the TTL: an offer change does not change who provides it.
 *
 * Lookups end at the first peer whose answer verifies, rather than after kad-dht's whole walk.
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
  private signed?: Capacity
  private surveyTimer?: NodeJS.Timeout
  private surveying = false
  private providedAt?: number

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
      if (this.published == null) {
        // a new peer may be what the pending retry waits for; an attempt in flight will use it
        if (this.publishing == null) this.schedule(0)
        return
      }
      const peers = this.components.connectedPeers().length
      if (peers >= Math.max(2, this.peersAtLastPut * REPUBLISH_GROWTH_FACTOR)) this.schedule(0)
    })
    this.schedule(0)
    const every = this.init.surveyIntervalMs ?? 0
    if (every > 0) this.scheduleSurvey(every / 10, every)
  }

  private scheduleSurvey(delayMs: number, everyMs: number): void {
    this.surveyTimer = setTimeout(() => {
      if (this.stopped || this.surveying) return
      this.surveying = true
      this.findAll({ signal: this.controller.signal })
        .catch((err: Error) => this.log('survey failed: %s', err.message))
        .finally(() => {
          this.surveying = false
          if (!this.stopped) this.scheduleSurvey(everyMs, everyMs)
        })
    }, delayMs)
    this.surveyTimer.unref?.()
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.unsubscribe?.()
    clearTimeout(this.surveyTimer)
    clearTimeout(this.timer)
    this.controller.abort()
    await this.publishing?.catch(() => {})
  }

  /** The record this node last published successfully, if any. */
  get current(): Capacity | undefined {
    return this.published
  }

  /**
   * This node's newest signed record, stored by peers or not yet (a node with no peers has
   * nobody to store it with, but its record is still what it offers).
   */
  get latest(): Capacity | undefined {
    return this.signed
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
    const value = await signCapacity(privateKey, cap, this.components.network)
    const key = capacityKey(peerId.toString())
    // check our own record exactly as remote peers will, so a bad offer fails loudly here
    const verified = await verifyCapacity(key, value, Date.now(), this.components.network)
    this.signed = verified
    const peers = this.components.connectedPeers().length
    const grown = peers >= Math.max(2, this.peersAtLastPut * REPUBLISH_GROWTH_FACTOR)
    this.peersAtLastPut = peers
    const stored = await withTimeout(this.controller.signal, PUBLISH_TIMEOUT_MS, async (signal) => {
      let n = 0
      for await (const ev of dht.put(key, value, { signal })) {
        if (ev.name === 'PEER_RESPONSE' && ev.messageName === 'PUT_VALUE') n++
        if (ev.name === 'QUERY_ERROR') this.log('put to a peer failed: %s', ev.error.message)
      }
      return n
    })
    if (stored > 0) {
      // the provider record says only "I run the runtime": it needs refreshing when the mesh
      // has grown (its closest peers changed) or at half the TTL, not when the offer changes
      const provide = this.providedAt == null || grown || now - this.providedAt >= this.ttlMs / 2
      this.published = { ...verified }
      this.cache.set(verified.peerId, verified)
      if (provide) {
        try {
          const cid = await capabilityCid()
          await withTimeout(this.controller.signal, PUBLISH_TIMEOUT_MS, async (providing) => {
            for await (const _ of dht.provide(cid, { signal: providing })) {
              // drain: provide progresses as the iterator is consumed
            }
          })
          this.providedAt = now
        } catch (err) {
          // the record is out; the next publication provides again
          if (!this.stopped) this.log('providing the runtime capability failed: %s', (err as Error).message)
        }
      }
      this.log('published capacity seq %s to %d peers', nextSeq, stored)
    }
    return stored
  }

  /** Gets one peer's capacity record from the DHT; undefined when none is found or valid. */
  async find(peerId: string, options: FindOptions = {}): Promise<Capacity | undefined> {
    const key = capacityKey(peerId)
    let best: Capacity | undefined
    // kad-dht's get yields its VALUE only after the whole walk has drained (every path has heard
    // from its k closest peers: in a small mesh, nearly every node). Each peer's answer carries
    // the record it holds, so the first one that verifies ends the walk instead: only the owner
    // can sign a newer record, and waiting for the rest costs many round trips for a rarely
    // newer one. The walk's final VALUE (the local copy, or the selector's choice) is the fallback.
    const done = new AbortController()
    // anySignal, not AbortSignal.any: see withTimeout (src/abort.ts)
    const signal = anySignal([options.signal ?? AbortSignal.timeout(FIND_TIMEOUT_MS), done.signal])
    try {
      for await (const ev of this.components.dht.get(key, { signal })) {
        let value: Uint8Array | undefined
        if (ev.name === 'VALUE') value = ev.value
        else if (ev.name === 'PEER_RESPONSE' && ev.record != null) value = ev.record.value
        if (value == null) continue
        try {
          best = await verifyCapacity(key, value, Date.now(), this.components.network)
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
      signal.clear()
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
