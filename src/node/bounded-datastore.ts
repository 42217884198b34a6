/**
 * The node's in-memory datastore, with the DHT's part and the peer store bounded. kad-dht stores
 * every valid record and provider entry a peer sends it (PUT_VALUE, ADD_PROVIDER), and libp2p's
 * peer store keeps an entry for every peer it hears of (each identity that connects, every peer a
 * DHT answer names); identities are free, so without a bound a stranger making keys could grow a
 * node's memory without end (issue 11). Entries under `prefix` are kept to at most `maxEntries`,
 * and peer-store entries (`/peers/…`) to at most `maxPeers`, the least recently written going
 * first. A node's own capacity record and provider entry are written again on every republish,
 * and a connected peer's entry whenever identify runs, so those stay.
 */
import type { PeerId } from '@libp2p/interface'
import { BaseDatastore } from 'datastore-core'
import { Key, type Pair, type Query } from 'interface-datastore'
import { NotFoundError } from 'interface-store'

/** DHT entries (records and provider entries) a node keeps: ~10 MiB of 1 KiB capacity records at most. */
export const MAX_DHT_ENTRIES = 10_000
/** Peer-store entries a node keeps (a few hundred bytes each). */
export const MAX_PEER_ENTRIES = 20_000
/** Where libp2p's persistent peer store writes its entries. */
export const PEER_STORE_PREFIX = '/peers/'

/** The peer store's key for a peer: its CID in base32, as `@libp2p/peer-store` writes it. */
export function peerStoreKey(peerId: PeerId): Key {
  return new Key(`${PEER_STORE_PREFIX}${peerId.toCID().toString()}`)
}

export interface BoundedDatastoreInit {
  /** Keys under this prefix are counted and bounded (the DHT's `datastorePrefix`). */
  prefix: string
  /** @default MAX_DHT_ENTRIES */
  maxEntries?: number
  /** @default MAX_PEER_ENTRIES */
  maxPeers?: number
}

/** Keys under one prefix, least recently written first, at most `max` of them. */
class Bound {
  readonly order = new Set<string>()
  evicted = 0
  constructor(
    readonly prefix: string,
    readonly max: number,
  ) {}
}

type Options = { signal?: AbortSignal }

export class BoundedDatastore extends BaseDatastore {
  readonly #data = new Map<string, Uint8Array>()
  readonly #dht: Bound
  readonly #peers: Bound
  /** Keys never counted nor evicted (the node's own peer-store entry: identify reads it). */
  readonly #kept = new Set<string>()

  constructor(init: BoundedDatastoreInit) {
    super()
    const prefix = init.prefix.endsWith('/') ? init.prefix : `${init.prefix}/`
    this.#dht = new Bound(prefix, init.maxEntries ?? MAX_DHT_ENTRIES)
    this.#peers = new Bound(PEER_STORE_PREFIX, init.maxPeers ?? MAX_PEER_ENTRIES)
  }

  /** DHT entries (under the prefix) now. */
  get bounded(): number {
    return this.#dht.order.size
  }

  /** DHT entries dropped to stay within the bound since start. */
  get evicted(): number {
    return this.#dht.evicted
  }

  /** Peer-store entries now, and dropped to stay within their bound since start. */
  get peers(): { held: number; evicted: number } {
    return { held: this.#peers.order.size, evicted: this.#peers.evicted }
  }

  /** Never evict `key` (counted in no bound). */
  keep(key: Key): void {
    const k = key.toString()
    this.#boundOf(k)?.order.delete(k)
    this.#kept.add(k)
  }

  #boundOf(k: string): Bound | undefined {
    if (this.#kept.has(k)) return undefined
    if (k.startsWith(this.#dht.prefix)) return this.#dht
    if (k.startsWith(PEER_STORE_PREFIX)) return this.#peers
    return undefined
  }

  override put(key: Key, val: Uint8Array, options?: Options): Key {
    options?.signal?.throwIfAborted()
    const k = key.toString()
    this.#data.set(k, val)
    const bound = this.#boundOf(k)
    if (bound === undefined) return key
    bound.order.delete(k)
    bound.order.add(k)
    while (bound.order.size > bound.max) {
      const oldest = bound.order.values().next().value
      if (oldest === undefined) break
      bound.order.delete(oldest)
      this.#data.delete(oldest)
      bound.evicted++
    }
    return key
  }

  override get(key: Key, options?: Options): Uint8Array {
    options?.signal?.throwIfAborted()
    const value = this.#data.get(key.toString())
    if (value == null) throw new NotFoundError()
    return value
  }

  override has(key: Key, options?: Options): boolean {
    options?.signal?.throwIfAborted()
    return this.#data.has(key.toString())
  }

  override delete(key: Key, options?: Options): void {
    options?.signal?.throwIfAborted()
    const k = key.toString()
    this.#boundOf(k)?.order.delete(k)
    this.#data.delete(k)
  }

  override *_all(_q: Query, options?: Options): Generator<Pair> {
    for (const [key, value] of [...this.#data]) {
      options?.signal?.throwIfAborted()
      yield { key: new Key(key), value }
    }
  }

  override *_allKeys(_q: unknown, options?: Options): Generator<Key> {
    for (const key of [...this.#data.keys()]) {
      options?.signal?.throwIfAborted()
      yield new Key(key)
    }
  }
}
