/**
 * The narrow storage the ledger needs. The daemon passes a `level` sublevel (string keys,
 * `Uint8Array` values); tests pass {@link MemoryLedgerStore}. Each `put` must be atomic on its own;
 * the ledger never needs two writes to land together.
 */
export interface LedgerStore {
  get(key: string): Promise<Uint8Array | undefined>
  put(key: string, value: Uint8Array): Promise<void>
  /** Every entry whose key starts with `prefix`, in key order. */
  iterate(prefix: string): AsyncIterable<[key: string, value: Uint8Array]>
}

/** An in-memory {@link LedgerStore} for tests; values are copied in and out. */
export class MemoryLedgerStore implements LedgerStore {
  readonly #entries = new Map<string, Uint8Array>()

  async get(key: string): Promise<Uint8Array | undefined> {
    const v = this.#entries.get(key)
    return v === undefined ? undefined : Uint8Array.from(v)
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.#entries.set(key, Uint8Array.from(value))
  }

  async *iterate(prefix: string): AsyncIterable<[string, Uint8Array]> {
    const keys = [...this.#entries.keys()].filter((k) => k.startsWith(prefix)).sort()
    for (const k of keys) {
      const v = this.#entries.get(k)
      if (v !== undefined) yield [k, Uint8Array.from(v)]
    }
  }

  /** Number of entries, for tests. */
  get size(): number {
    return this.#entries.size
  }
}
