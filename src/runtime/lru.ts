/**
 * A least-recently-used index bounded by entry count and total size. It holds keys and sizes
 * only; the owner keeps the values. The pool keeps one per worker process that mirrors the
 * worker's own cache exactly: both apply the same `use`/`add` calls in the same order, so the
 * pool knows, without asking, whether a worker already holds a module.
 */
export class SizedLru {
  readonly #sizes = new Map<string, number>()
  #total = 0

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {}

  has(key: string): boolean {
    return this.#sizes.has(key)
  }

  /** Marks `key` as most recently used; false when it is not held. */
  use(key: string): boolean {
    const size = this.#sizes.get(key)
    if (size === undefined) return false
    this.#sizes.delete(key)
    this.#sizes.set(key, size)
    return true
  }

  /** Adds (or refreshes) `key`; returns the keys evicted to stay within both bounds. */
  add(key: string, bytes: number): string[] {
    this.delete(key)
    this.#sizes.set(key, bytes)
    this.#total += bytes
    const evicted: string[] = []
    // the newest entry always stays, even when it alone is larger than maxBytes
    while (this.#sizes.size > 1 && (this.#sizes.size > this.maxEntries || this.#total > this.maxBytes)) {
      const oldest = this.#sizes.keys().next().value as string
      this.delete(oldest)
      evicted.push(oldest)
    }
    return evicted
  }

  delete(key: string): void {
    const size = this.#sizes.get(key)
    if (size === undefined) return
    this.#sizes.delete(key)
    this.#total -= size
  }

  get size(): number {
    return this.#sizes.size
  }
}
