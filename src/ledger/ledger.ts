/**
 * The store-backed ledger: every verified receipt is stored once under its id, and balances and
 * reputation are kept in memory by a {@link Book}. The stored receipts are the only durable state
 * (one `put` per receipt), so a crash at any moment loses nothing that was acknowledged and can
 * never count a receipt twice: on `open()` the book is rebuilt from the stored receipts.
 */
import type { NetworkId } from '../network/index.js'
import { type Account, Book, type Reputation } from './book.js'
import { LedgerSchemaError } from './errors.js'
import { type ExportFormat, formatReceipts } from './export.js'
import { readStoredReceipt, type VerifiedReceipt, verifyReceipt } from './receipt.js'
import type { LedgerStore } from './store.js'
import { Acquaintances, StrangerReceipts } from './trust.js'

/**
 * Debt allowed to a submitter that has earned nothing this node counts (a new identity): 10
 * credits, in micro-credits. It grows by what the submitter earned, up to the operator's credit
 * limit, so a throwaway identity gets this much free work, not the whole limit.
 */
export const NEW_IDENTITY_CREDIT = 10_000_000n

export const LEDGER_SCHEMA_VERSION = '1'
const SCHEMA_KEY = 'schema'
const RECEIPT_PREFIX = 'r/'
const EVIDENCE_PREFIX = 'e/'

/**
 * - `added`: a new receipt, now counted.
 * - `duplicate`: the same receipt was already stored; nothing changed.
 * - `replaced`: the submitter had signed a different receipt for the same (task, executor); this
 *   one wins by the conflict rule and replaced it.
 * - `kept`: such a conflict, and the stored receipt wins; this one is kept only as evidence.
 * - `held`: a stranger's receipt (see trust.ts): held in memory, bounded, not counted.
 * - `dropped`: a stranger's receipt beyond its submitter's share: not kept at all.
 */
export type AddOutcome = 'added' | 'duplicate' | 'replaced' | 'kept' | 'held' | 'dropped'

export interface AddResult {
  outcome: AddOutcome
  receipt: VerifiedReceipt
}

export interface LedgerComponents {
  store: LedgerStore
  /**
   * This node's peer id: the ledger then counts only receipts it is party to and those of
   * submitters it has dealt with (trust.ts). Without it the ledger is an auditor's: it counts every
   * valid receipt (tests, offline verification of an export).
   */
  self?: string
  /** Clock for holding strangers' receipts. @default Date.now */
  now?: () => number
  /** The network receipts are signed for (network/index.ts). @default PUBLIC_NETWORK */
  network?: NetworkId
}

const VERDICT_RANK = { rejected: 0, timed_out: 1, accepted: 2 } as const

/**
 * Conflict rule for two receipts of one submitter for one (task, executor): the one better for the
 * executor wins — accepted over timed out over rejected, then the larger amount — so a submitter
 * can never take back a payment or a good verdict it signed; a full tie goes to the lower content
 * hash. The rule is a total order, so every node keeps the same receipt whatever the arrival order.
 */
export function preferredReceipt(a: VerifiedReceipt, b: VerifiedReceipt): VerifiedReceipt {
  const rank = VERDICT_RANK[a.info.verdict] - VERDICT_RANK[b.info.verdict]
  if (rank !== 0) return rank > 0 ? a : b
  if (a.info.amount !== b.info.amount) return a.info.amount > b.info.amount ? a : b
  return a.contentHash <= b.contentHash ? a : b
}

export class Ledger {
  readonly #store: LedgerStore
  readonly #book = new Book()
  /** Only the receipts this node signed: its own verified observations of executors. */
  readonly #observed = new Book()
  readonly #equivocators = new Map<string, number>()
  readonly #peers?: Acquaintances
  readonly #strangers: StrangerReceipts
  readonly #network?: NetworkId
  #tail: Promise<unknown> = Promise.resolve()

  private constructor(components: LedgerComponents) {
    this.#store = components.store
    this.#peers = components.self === undefined ? undefined : new Acquaintances(components.self)
    this.#strangers = new StrangerReceipts(components.now)
    this.#network = components.network
  }

  /**
   * Opens the ledger over `store`: checks the schema version (writing it into an empty store) and
   * rebuilds balances and reputation from the stored receipts.
   * @throws LedgerSchemaError when the store was written by an incompatible version
   */
  static async open(components: LedgerComponents): Promise<Ledger> {
    const ledger = new Ledger(components)
    const raw = await components.store.get(SCHEMA_KEY)
    if (raw === undefined) {
      await components.store.put(SCHEMA_KEY, new TextEncoder().encode(LEDGER_SCHEMA_VERSION))
    } else {
      const found = new TextDecoder().decode(raw)
      if (found !== LEDGER_SCHEMA_VERSION) throw new LedgerSchemaError(found, LEDGER_SCHEMA_VERSION)
    }
    for await (const [, bytes] of components.store.iterate(RECEIPT_PREFIX)) {
      const r = readStoredReceipt(bytes)
      ledger.#count(r)
      ledger.#peers?.learn(r)
    }
    for await (const [, bytes] of components.store.iterate(EVIDENCE_PREFIX)) {
      ledger.#noteEquivocation(readStoredReceipt(bytes).info.submitter)
    }
    return ledger
  }

  /**
   * Verifies a signed receipt (from gossip, or signed by this node) and stores it idempotently.
   * @throws OversizeReceiptError, MalformedReceiptError, ForgedSubmitterError, InvalidSignatureError
   */
  async add(bytes: Uint8Array): Promise<AddResult> {
    const receipt = await verifyReceipt(bytes, this.#network)
    return this.#exclusive(() => this.#admit(receipt))
  }

  /**
   * Verifies every receipt of a batch (see batch.ts) before storing any, then stores each as
   * {@link add} does, in order: one invalid receipt and nothing of the batch is stored.
   * @throws OversizeReceiptError, MalformedReceiptError, ForgedSubmitterError, InvalidSignatureError
   */
  async addAll(list: readonly Uint8Array[]): Promise<AddResult[]> {
    const receipts: VerifiedReceipt[] = []
    for (const bytes of list) receipts.push(await verifyReceipt(bytes, this.#network))
    return this.#exclusive(async () => {
      const results: AddResult[] = []
      for (const r of receipts) results.push(await this.#admit(r))
      return results
    })
  }

  /** Stores and counts a receipt this node believes; holds or drops a stranger's (trust.ts). */
  async #admit(receipt: VerifiedReceipt): Promise<AddResult> {
    const standing = this.#peers?.standing(receipt) ?? 'party'
    if (standing === 'stranger') {
      if (await this.has(receipt.id)) return this.#insert(receipt)
      return { outcome: this.#strangers.hold(receipt) ? 'held' : 'dropped', receipt }
    }
    const result = await this.#insert(receipt)
    const met = this.#peers?.learn(receipt)
    if (met !== undefined) {
      // a submitter this node now deals with: what it held from it counts from now on
      for (const held of this.#strangers.release(met)) await this.#insert(held)
    }
    return result
  }

  async #insert(receipt: VerifiedReceipt): Promise<AddResult> {
    const key = RECEIPT_PREFIX + receipt.id
    const existingBytes = await this.#store.get(key)
    if (existingBytes === undefined) {
      await this.#store.put(key, receipt.bytes)
      this.#count(receipt)
      return { outcome: 'added', receipt }
    }
    const existing = readStoredReceipt(existingBytes)
    if (existing.contentHash === receipt.contentHash) return { outcome: 'duplicate', receipt }
    const winner = preferredReceipt(existing, receipt)
    const loser = winner === existing ? receipt : existing
    const evidenceKey = `${EVIDENCE_PREFIX}${receipt.id}/${loser.contentHash}`
    const knownEvidence = (await this.#store.get(evidenceKey)) !== undefined
    if (winner !== existing) {
      await this.#store.put(key, receipt.bytes)
      this.#count(existing, -1)
      this.#count(receipt)
    }
    if (!knownEvidence) {
      await this.#store.put(evidenceKey, loser.bytes)
      this.#noteEquivocation(receipt.info.submitter)
    }
    return { outcome: winner === existing ? 'kept' : 'replaced', receipt }
  }

  #count(r: VerifiedReceipt, sign: 1 | -1 = 1): void {
    const apply = (book: Book): void => (sign === 1 ? book.add(r.info) : book.remove(r.info))
    apply(this.#book)
    if (this.#peers !== undefined && r.info.submitter === this.#peers.self) apply(this.#observed)
  }

  /** Strangers' receipts held in memory (bounded; see trust.ts). */
  get heldReceipts(): number {
    return this.#strangers.size
  }

  /** Whether this node counts `peer`'s receipts as a submitter it has dealt with. */
  knows(peer: string): boolean {
    return this.#peers?.has(peer) ?? true
  }

  #noteEquivocation(submitter: string): void {
    this.#equivocators.set(submitter, (this.#equivocators.get(submitter) ?? 0) + 1)
  }

  /** Serializes writes so that two concurrent adds of one receipt cannot both count it. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn)
    this.#tail = run.catch(() => undefined)
    return run
  }

  /** Whether a receipt with this id (see `receiptId`) is stored. */
  async has(id: string): Promise<boolean> {
    return (await this.#store.get(RECEIPT_PREFIX + id)) !== undefined
  }

  account(peer: string): Account {
    return this.#book.account(peer)
  }

  accounts(): Account[] {
    return this.#book.accounts()
  }

  /**
   * Whether this node should still work for `submitter`: its balance minus `cost` stays above
   * its allowed debt. A submitter's allowed debt is {@link NEW_IDENTITY_CREDIT} (or `newCredit`)
   * plus what it has earned in receipts this node counts, never more than `creditLimit`: a new
   * identity cannot run up the operator's whole limit. Amounts in micro-credits.
   */
  canAfford(submitter: string, creditLimit: bigint, cost = 0n, newCredit = NEW_IDENTITY_CREDIT): boolean {
    const { earned } = this.#book.account(submitter)
    const allowed = newCredit + earned < creditLimit ? newCredit + earned : creditLimit
    return this.#book.canAfford(submitter, allowed, cost)
  }

  /** Reputation from every receipt this node counts (party to, or from submitters it knows). */
  reputation(peer: string): Reputation {
    return this.#book.reputation(peer)
  }

  /**
   * Reputation from this node's own verified observations only: the receipts it signed as a
   * submitter. This is what ranks bids; strangers' gossip never moves it. Without `self` (an
   * auditor's ledger), the same as {@link reputation}.
   */
  observedReputation(peer: string): Reputation {
    return this.#peers === undefined ? this.#book.reputation(peer) : this.#observed.reputation(peer)
  }

  /** Executors best first. */
  reputations(): Reputation[] {
    return this.#book.reputations()
  }

  /** Sum of all balances; always 0n. */
  totalBalance(): bigint {
    return this.#book.totalBalance()
  }

  /** Submitters caught signing two different receipts for one (task, executor), with counts. */
  equivocators(): ReadonlyMap<string, number> {
    return this.#equivocators
  }

  /** Every stored receipt, verified when it was added, in store order. */
  async *receipts(): AsyncIterable<VerifiedReceipt> {
    for await (const [, bytes] of this.#store.iterate(RECEIPT_PREFIX)) yield readStoredReceipt(bytes)
  }

  /**
   * The stored receipts as CSV or JSON, oldest first; optionally only those where `peer` is the
   * submitter or the executor. JSON carries each signed receipt (base64) so anyone can re-verify.
   */
  async exportReceipts(format: ExportFormat, peer?: string): Promise<string> {
    const list: VerifiedReceipt[] = []
    for await (const r of this.receipts()) {
      if (peer === undefined || r.info.submitter === peer || r.info.executor === peer) list.push(r)
    }
    return formatReceipts(list, format)
  }
}
