/**
 * An executor's cache of other peers' blobs: the modules and inputs it fetched to run their tasks
 * and the outputs it produced for them. Without it an executor kept every one of them forever
 * (issue 11: "a 60 MiB input per cheap task").
 *
 * The rules:
 * - The cache holds at most `maxBytes`; past it, the least recently used blob goes first. A blob a
 *   running task is using is pinned and never evicted; an output waiting for its task's settlement
 *   goes only after every unpinned module and input.
 * - A finished task's input is collected as soon as its run ends; its output once the task is
 *   settled (this node holds its receipt) or abandoned (cancelled, refused, expired).
 * - A blob the node needs for itself (`owned`: its own jobs' modules, inputs and outputs) is never
 *   deleted, whatever the cache decides.
 * - Crash safety: an entry is written to the index before the blob is fetched or written, so
 *   after a kill -9 nothing this cache brought in is unknown to it. On {@link BlobCache.load},
 *   inputs (no task runs after a restart) and blobs that neither the index nor `owned` claims
 *   (leftovers from before this cache, or from a crash mid-submit) are collected.
 *
 * Index keys in the given sublevel: `cache:<cid>` → UTF-8 JSON {@link CacheEntry}. Identical
 * outputs of several tasks are one blob with one hold per task.
 */
import type { Logger } from '@libp2p/interface'
import type { Sublevel } from '../store/index.js'
import { parseBlobCid } from './cid.js'
import type { BlobStore } from './store.js'

/** Default size of an executor's cache of others' blobs: 1 GiB. */
export const DEFAULT_CACHE_BYTES = 1024 ** 3

const PREFIX = 'cache:'

/** What a cached blob is to the tasks that used it. */
export type CachedKind = 'module' | 'input' | 'output'

export interface CacheEntry {
  kind: CachedKind
  /** Bytes on disk (0 until stored). */
  size: number
  /** Last use, ms since the epoch (least recently used goes first). */
  usedAt: number
  /** Tasks whose output this is, each kept until settled or abandoned (identical outputs share one blob). */
  holds?: OutputHold[]
}

/** An output waiting for its task's settlement: whose receipt settles it, and when it is abandoned. */
export interface OutputHold {
  taskId: string
  submitter: string
  until: number
}

/** Which kind a blob used in two ways keeps: a module stays cached; an output outlives an input. */
const KIND_RANK: Record<CachedKind, number> = { input: 0, output: 1, module: 2 }

export interface BlobCacheComponents {
  store: Pick<BlobStore, 'delete' | 'list'>
  /** Where the index lives (the market's sublevel); keys start with `cache:`. */
  db: Pick<Sublevel, 'put' | 'del' | 'iterator'>
  /** Blobs the node needs for itself: never deleted by the cache. */
  owned: (cid: string) => boolean
  log?: Logger
}

export interface BlobCacheInit {
  /** Largest total size of cached blobs. @default DEFAULT_CACHE_BYTES (1 GiB) */
  maxBytes?: number
}

export interface BlobCacheStats {
  /** Bytes the cache holds now. */
  bytes: number
  blobs: number
  /** Blobs deleted (evicted or collected) since start. */
  collected: number
  collectedBytes: number
}

const enc = new TextEncoder()
const dec = new TextDecoder()

export class BlobCache {
  readonly maxBytes: number
  /** cid → entry; map order is least recently used first. */
  readonly #entries = new Map<string, CacheEntry>()
  readonly #pins = new Map<string, number>()
  readonly #listeners = new Set<() => void>()
  #bytes = 0
  #collected = 0
  #collectedBytes = 0

  constructor(
    private readonly components: BlobCacheComponents,
    init: BlobCacheInit = {},
  ) {
    this.maxBytes = init.maxBytes ?? DEFAULT_CACHE_BYTES
    if (!(this.maxBytes >= 0)) throw new RangeError(`cache size must be ≥ 0, got ${this.maxBytes}`)
  }

  /**
   * Reads the index and collects what a previous run left behind: every input, and every stored
   * blob that neither the index nor `owned` claims. Call before anything uses the store.
   */
  async load(): Promise<void> {
    const found: Array<[string, CacheEntry]> = []
    for await (const [k, v] of this.components.db.iterator({ gte: PREFIX, lt: `${PREFIX}\xff` })) {
      try {
        found.push([k.slice(PREFIX.length), JSON.parse(dec.decode(v)) as CacheEntry])
      } catch {
        await this.components.db.del(k)
      }
    }
    found.sort((a, b) => a[1].usedAt - b[1].usedAt)
    for (const [cid, e] of found) {
      this.#entries.set(cid, e)
      this.#bytes += e.size
    }
    for (const [cid, e] of found) if (e.kind === 'input' && e.holds == null) await this.#drop(cid)
    for await (const name of this.components.store.list()) {
      if (this.#entries.has(name) || this.components.owned(name)) continue
      await this.#deleteFile(name, 0)
    }
    await this.trim()
  }

  get bytes(): number {
    return this.#bytes
  }

  /** The cache knows this blob (it decides when the file goes). */
  holds(cid: string): boolean {
    return this.#entries.has(cid)
  }

  entry(cid: string): Readonly<CacheEntry> | undefined {
    return this.#entries.get(cid)
  }

  pinned(cid: string): boolean {
    return (this.#pins.get(cid) ?? 0) > 0
  }

  stats(): BlobCacheStats {
    return {
      bytes: this.#bytes,
      blobs: this.#entries.size,
      collected: this.#collected,
      collectedBytes: this.#collectedBytes,
    }
  }

  /** Calls `fn` after every change (tests wait on it); returns the unsubscribe function. */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  /**
   * Pins `cid` for a running task and records it before it is fetched or written (so a crash
   * never leaves a blob the cache does not know). An output names the task it is held for.
   * Pair with {@link unpin}.
   */
  async pin(cid: string, kind: CachedKind, hold?: OutputHold): Promise<void> {
    this.#pins.set(cid, (this.#pins.get(cid) ?? 0) + 1)
    const prev = this.#entries.get(cid)
    const holds = [...(prev?.holds ?? [])]
    if (hold != null && !holds.some((h) => h.taskId === hold.taskId)) holds.push(hold)
    await this.#put(cid, {
      kind: prev != null && KIND_RANK[prev.kind] > KIND_RANK[kind] ? prev.kind : kind,
      size: prev?.size ?? 0,
      usedAt: Date.now(),
      ...(holds.length > 0 ? { holds } : {}),
    })
  }

  /** The blob is on disk now with `size` bytes; evicts others if the cache is over its size. */
  async stored(cid: string, size: number): Promise<void> {
    const e = this.#entries.get(cid)
    if (e == null) return
    await this.#put(cid, { ...e, size, usedAt: Date.now() })
    await this.trim()
  }

  /** The task no longer uses `cid`; if the cache is over its size, evicts now. */
  async unpin(cid: string): Promise<void> {
    const n = (this.#pins.get(cid) ?? 0) - 1
    if (n > 0) this.#pins.set(cid, n)
    else this.#pins.delete(cid)
    if (this.#bytes > this.maxBytes) await this.trim()
  }

  /** A run ended: its input is not needed any more (unless a running task or an output holds it). */
  async finishedInput(cid: string): Promise<void> {
    const e = this.#entries.get(cid)
    if (e?.kind === 'input' && e.holds == null && !this.pinned(cid)) await this.#drop(cid)
  }

  /** The task's output is settled or abandoned: collected once no other task holds the same blob. */
  async release(taskId: string): Promise<void> {
    for (const [cid, e] of [...this.#entries]) {
      if (e.holds?.some((h) => h.taskId === taskId) === true) await this.#unhold(cid, e, taskId)
    }
  }

  /** Outputs still waiting for settlement. */
  awaiting(): Array<OutputHold & { cid: string }> {
    const out: Array<OutputHold & { cid: string }> = []
    for (const [cid, e] of this.#entries) for (const h of e.holds ?? []) out.push({ cid, ...h })
    return out
  }

  /**
   * Collects settled and abandoned outputs: `settled(taskId, submitter)` says whether this node
   * holds the task's receipt; an output past its `until` is abandoned either way.
   */
  async collect(
    settled: (taskId: string, submitter: string) => Promise<boolean> | boolean,
    now = Date.now(),
  ): Promise<void> {
    for (const a of this.awaiting()) {
      if (a.until <= now || (await settled(a.taskId, a.submitter))) {
        const e = this.#entries.get(a.cid)
        if (e != null) await this.#unhold(a.cid, e, a.taskId)
      }
    }
  }

  async #unhold(cid: string, e: CacheEntry, taskId: string): Promise<void> {
    const holds = (e.holds ?? []).filter((h) => h.taskId !== taskId)
    if (holds.length === 0 && e.kind !== 'module' && !this.pinned(cid)) return this.#drop(cid)
    const { holds: _, ...rest } = e
    await this.#put(cid, holds.length > 0 ? { ...rest, holds } : rest, false)
  }

  /** Evicts least recently used unpinned blobs while the cache is over its size. */
  async trim(): Promise<void> {
    for (const tier of ['cache', 'output'] as const) {
      if (this.#bytes <= this.maxBytes) return
      for (const [cid, e] of [...this.#entries]) {
        if (this.#bytes <= this.maxBytes) return
        if (this.pinned(cid) || (e.holds != null) !== (tier === 'output')) continue
        await this.#drop(cid)
      }
    }
    if (this.#bytes > this.maxBytes)
      this.components.log?.('blob cache over its size: %d bytes in use by running tasks', this.#bytes)
  }

  async #put(cid: string, e: CacheEntry, used = true): Promise<void> {
    const prev = this.#entries.get(cid)
    this.#bytes += e.size - (prev?.size ?? 0)
    if (used) {
      // re-insert: most recently used last
      this.#entries.delete(cid)
    }
    this.#entries.set(cid, e)
    await this.components.db.put(PREFIX + cid, enc.encode(JSON.stringify(e)))
    this.#changed()
  }

  async #drop(cid: string): Promise<void> {
    const e = this.#entries.get(cid)
    if (e == null) return
    this.#entries.delete(cid)
    this.#bytes -= e.size
    // the file first: a crash in between leaves an entry for a missing file, never the reverse
    await this.#deleteFile(cid, e.size)
    await this.components.db.del(PREFIX + cid)
    this.#changed()
  }

  async #deleteFile(cid: string, size: number): Promise<void> {
    if (this.components.owned(cid)) return
    let parsed: ReturnType<typeof parseBlobCid>
    try {
      parsed = parseBlobCid(cid)
    } catch {
      return
    }
    if (await this.components.store.delete(parsed)) {
      this.#collected++
      this.#collectedBytes += size
      this.components.log?.trace('collected blob %s', cid)
    }
  }

  #changed(): void {
    for (const l of this.#listeners) l()
  }
}
