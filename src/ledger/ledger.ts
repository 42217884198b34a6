/**
 * The store-backed ledger: every verified receipt is stored once under its id, and balances and
 * reputation are kept in memory by a {@link Book}. The stored receipts are the only durable state
 * (one `put` per receipt), so a crash at any moment loses nothing that was acknowledged and can
 * never count a receipt twice: on `open()` the book is rebuilt from the stored receipts.
 */
import { type Account, Book, type Reputation } from './book.js'
import { LedgerSchemaError } from './errors.js'
import { type ExportFormat, formatReceipts } from './export.js'
import { readStoredReceipt, type VerifiedReceipt, verifyReceipt } from './receipt.js'
import type { LedgerStore } from './store.js'

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
 */
export type AddOutcome = 'added' | 'duplicate' | 'replaced' | 'kept'

export interface AddResult {
  outcome: AddOutcome
  receipt: VerifiedReceipt
}

export interface LedgerComponents {
  store: LedgerStore
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
  readonly #equivocators = new Map<string, number>()
  #tail: Promise<unknown> = Promise.resolve()

  private constructor(store: LedgerStore) {
    this.#store = store
  }

  /**
   * Opens the ledger over `store`: checks the schema version (writing it into an empty store) and
   * rebuilds balances and reputation from the stored receipts.
   * @throws LedgerSchemaError when the store was written by an incompatible version
   */
  static async open(components: LedgerComponents): Promise<Ledger> {
    const ledger = new Ledger(components.store)
    const raw = await components.store.get(SCHEMA_KEY)
    if (raw === undefined) {
      await components.store.put(SCHEMA_KEY, new TextEncoder().encode(LEDGER_SCHEMA_VERSION))
    } else {
      const found = new TextDecoder().decode(raw)
      if (found !== LEDGER_SCHEMA_VERSION) throw new LedgerSchemaError(found, LEDGER_SCHEMA_VERSION)
    }
    for await (const [, bytes] of components.store.iterate(RECEIPT_PREFIX)) {
      ledger.#book.add(readStoredReceipt(bytes).info)
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
    const receipt = await verifyReceipt(bytes)
    return this.#exclusive(() => this.#insert(receipt))
  }

  async #insert(receipt: VerifiedReceipt): Promise<AddResult> {
    const key = RECEIPT_PREFIX + receipt.id
    const existingBytes = await this.#store.get(key)
    if (existingBytes === undefined) {
      await this.#store.put(key, receipt.bytes)
      this.#book.add(receipt.info)
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
      this.#book.remove(existing.info)
      this.#book.add(receipt.info)
    }
    if (!knownEvidence) {
      await this.#store.put(evidenceKey, loser.bytes)
      this.#noteEquivocation(receipt.info.submitter)
    }
    return { outcome: winner === existing ? 'kept' : 'replaced', receipt }
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

  /** See {@link Book.canAfford}. Amounts in micro-credits. */
  canAfford(submitter: string, creditLimit: bigint, cost = 0n): boolean {
    return this.#book.canAfford(submitter, creditLimit, cost)
  }

  reputation(peer: string): Reputation {
    return this.#book.reputation(peer)
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
