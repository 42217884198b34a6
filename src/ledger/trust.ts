/**
 * Who this node believes (SECURITY.md, "Receipts and reputation"). Anyone can make a key and sign
 * receipts paying whomever it likes, so a receipt's signature proves only who signed it. A node
 * therefore stores and counts:
 *
 * - receipts it is party to (it signed them, or it is the executor they pay);
 * - receipts from submitters it has dealt with: peers that paid it for work (any verdict), and
 *   executors whose work it verified itself (an `accepted` receipt it signed) — their receipts are
 *   vouched for by that work.
 *
 * Everything else is a stranger's receipt: held in memory only, at most
 * {@link STRANGER_RECEIPTS_PER_SUBMITTER} per submitter, {@link STRANGER_RECEIPTS_MAX} in all,
 * for {@link STRANGER_RECEIPT_TTL_MS}; never written to disk, never counted in balances or
 * reputation. If this node later deals with that submitter, the held receipts are counted then.
 */
import type { VerifiedReceipt } from './receipt.js'

/** Receipts held per stranger submitter; more from it are dropped. */
export const STRANGER_RECEIPTS_PER_SUBMITTER = 16
/** Stranger receipts held in all; the oldest go first. */
export const STRANGER_RECEIPTS_MAX = 1024
/** How long a stranger's receipt is held (arrival time; the signer's clock is not trusted). */
export const STRANGER_RECEIPT_TTL_MS = 60 * 60_000

/** Why a receipt is counted, or that it is not. */
export type Standing = 'party' | 'known' | 'stranger'

/** The peers whose receipts this node counts, learnt from receipts it is party to. */
export class Acquaintances {
  readonly #known = new Set<string>()

  constructor(readonly self: string) {}

  /** Learns from a receipt being counted; returns the peer that became known, if any. */
  learn(r: VerifiedReceipt): string | undefined {
    const { submitter, executor, verdict } = r.info
    let peer: string | undefined
    if (executor === this.self && submitter !== this.self) peer = submitter
    else if (submitter === this.self && executor !== this.self && verdict === 'accepted') peer = executor
    if (peer === undefined || this.#known.has(peer)) return undefined
    this.#known.add(peer)
    return peer
  }

  standing(r: VerifiedReceipt): Standing {
    const { submitter, executor } = r.info
    if (submitter === this.self || executor === this.self) return 'party'
    return this.#known.has(submitter) ? 'known' : 'stranger'
  }

  has(peer: string): boolean {
    return this.#known.has(peer)
  }

  get size(): number {
    return this.#known.size
  }
}

/** Strangers' receipts, bounded per submitter, in total and in time (see the file's comment). */
export class StrangerReceipts {
  /** submitter → receipts, oldest first; the map's order is by first arrival of the submitter. */
  readonly #bySubmitter = new Map<string, Array<{ at: number; receipt: VerifiedReceipt }>>()
  #count = 0

  constructor(
    private readonly now: () => number = Date.now,
    private readonly limits = {
      perSubmitter: STRANGER_RECEIPTS_PER_SUBMITTER,
      total: STRANGER_RECEIPTS_MAX,
      ttlMs: STRANGER_RECEIPT_TTL_MS,
    },
  ) {}

  /** Holds a receipt; false when it was dropped (its submitter's share is full, or a duplicate). */
  hold(receipt: VerifiedReceipt): boolean {
    this.expire()
    const submitter = receipt.info.submitter
    const list = this.#bySubmitter.get(submitter) ?? []
    if (list.some((e) => e.receipt.contentHash === receipt.contentHash)) return false
    if (list.length >= this.limits.perSubmitter) return false
    while (this.#count >= this.limits.total) this.#dropOldest()
    list.push({ at: this.now(), receipt })
    this.#bySubmitter.set(submitter, list)
    this.#count++
    return true
  }

  /** Removes and returns what is held from `submitter` (it became known). */
  release(submitter: string): VerifiedReceipt[] {
    const list = this.#bySubmitter.get(submitter) ?? []
    this.#bySubmitter.delete(submitter)
    this.#count -= list.length
    return list.map((e) => e.receipt)
  }

  get size(): number {
    return this.#count
  }

  private expire(): void {
    const cutoff = this.now() - this.limits.ttlMs
    for (const [submitter, list] of this.#bySubmitter) {
      const keep = list.filter((e) => e.at >= cutoff)
      this.#count -= list.length - keep.length
      if (keep.length === 0) this.#bySubmitter.delete(submitter)
      else this.#bySubmitter.set(submitter, keep)
    }
  }

  #dropOldest(): void {
    let oldest: [string, number] | undefined
    for (const [submitter, list] of this.#bySubmitter) {
      if (oldest === undefined || list[0].at < oldest[1]) oldest = [submitter, list[0].at]
    }
    if (oldest === undefined) return
    const list = this.#bySubmitter.get(oldest[0]) ?? []
    list.shift()
    this.#count--
    if (list.length === 0) this.#bySubmitter.delete(oldest[0])
  }
}
