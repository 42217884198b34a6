/**
 * The node's in-memory datastore, with the DHT's part bounded. kad-dht stores every valid record
 * and provider entry a peer sends it (PUT_VALUE, ADD_PROVIDER); identities are free, so without a
 * bound a stranger making keys could grow a node's memory without end (issue 11). Entries under
 * `prefix` are kept to at most `maxEntries`, the least recently written going first; a node's
 * own capacity record and provider entry are written again on every republish, so they stay.
 */
import { BaseDatastore } from 'datastore-core'
import { Key, type Pair, type Query } from 'interface-datastore'
import { NotFoundError } from 'interface-store'

/** DHT entries (records and provider entries) a node keeps: ~10 MiB of 1 KiB capacity records at most. */
export const MAX_DHT_ENTRIES = 10_000

export interface BoundedDatastoreInit {
  /** Keys under this prefix are counted and bounded (the DHT's `datastorePrefix`). */
  prefix: string
  /** @default MAX_DHT_ENTRIES */
  maxEntries?: number
}

type Options = { signal?: AbortSignal }

export class BoundedDatastore extends BaseDatastore {
  readonly #data = new Map<string, Uint8Array>()
  readonly prefix: string
  readonly maxEntries: number
  /** Bounded keys, least recently written first. */
  readonly #order = new Set<string>()
  #evicted = 0

  constructor(init: BoundedDatastoreInit) {
    super()
    this.prefix = init.prefix.endsWith('/') ? init.prefix : `${init.prefix}/`
    this.maxEntries = init.maxEntries ?? MAX_DHT_ENTRIES
  }

  /** Entries under the prefix now. */
  get bounded(): number {
    return this.#order.size
  }

  /** Entries dropped to stay within the bound since start. */
  get evicted(): number {
    return this.#evicted
  }

  override put(key: Key, val: Uint8Array, options?: Options): Key {
    options?.signal?.throwIfAborted()
    const k = key.toString()
    this.#data.set(k, val)
    if (!k.startsWith(this.prefix)) return key
    this.#order.delete(k)
    this.#order.add(k)
    while (this.#order.size > this.maxEntries) {
      const oldest = this.#order.values().next().value
      if (oldest === undefined) break
      this.#order.delete(oldest)
      this.#data.delete(oldest)
      this.#evicted++
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
    this.#order.delete(k)
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
