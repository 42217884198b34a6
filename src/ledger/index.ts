/**
 * @packageDocumentation
 *
 * Settlement (DESIGN.md §3 step 7): the submitter of a finished task signs one receipt per
 * executor (accepted / rejected / timed out, fuel, price) and gossips them in batches (one for the
 * tasks it settled within 200 ms)
 * on `plusone/receipts/2` (batch.ts).
 * Every node verifies and stores the receipts it sees and derives from them balances (mutual
 * credit) and reputation. Nothing here does networking; the daemon feeds gossip into
 * {@link Ledger.add} and publishes what {@link signReceipt} returns.
 *
 * ```ts
 * const ledger = await Ledger.open({ store })             // store: a level sublevel, or MemoryLedgerStore
 * const bytes = await signReceipt(privateKey, { taskId, jobId, executor, verdict: 'accepted',
 *   fuelUsed, pricePerGfuel, timestampMs: Date.now(), sequence })
 * await ledger.add(bytes)                                  // also for every receipt from gossip
 * ledger.canAfford(submitter, creditLimit)                 // executors decline beyond the limit
 * ```
 *
 * ## Rules
 *
 * - Units: credits are integers in micro-credits (bigint); prices are micro-credits per 10^9 fuel
 *   (per Gfuel), as in capacity records. amount = floor(price × fuel / 10^9) when accepted, else 0;
 *   a receipt whose amount differs is malformed.
 * - Gossip: one message carries the receipts of every task settled within
 *   {@link RECEIPT_BATCH_WINDOW_MS} (`ReceiptBatch`, at most
 *   {@link MAX_RECEIPTS_PER_BATCH} receipts and {@link MAX_RECEIPT_BATCH_BYTES}); every receipt in
 *   it is verified before any is stored, and one invalid receipt rejects the batch
 *   ({@link Ledger.addAll}).
 * - Signature: Ed25519 (any libp2p key type works) over `"plusone/receipt/1\0" || receipt`, by the
 *   submitter: the public key carried in the receipt must hash to the submitter peer id.
 * - Decoding: at most {@link MAX_SIGNED_RECEIPT_BYTES}, canonical protobuf only, ids at most
 *   {@link MAX_RECEIPT_ID_CHARS} characters. Errors: `OversizeReceiptError`,
 *   `MalformedReceiptError`, `ForgedSubmitterError`, `InvalidSignatureError`.
 * - Idempotency: a receipt's id is sha256(submitter, task id, executor). The same receipt twice
 *   is stored once; nobody is paid twice for one task by one submitter. Two different receipts for
 *   one id are an equivocation: every node keeps the one better for the executor (see
 *   {@link preferredReceipt}), keeps the other as evidence and lists the submitter in
 *   `equivocators()`. The submitter is in the id so that nobody can pre-empt another submitter's
 *   receipt for a task whose id is public.
 * - Balances: earned − spent over accepted receipts; they sum to zero across the mesh. Derivation
 *   is order-independent, so nodes that saw the same receipts agree. The credit limit is applied
 *   by executors when bidding ({@link Ledger.canAfford}), not to receipts: a receipt is a fact.
 * - Reputation: per executor, each distinct submitter casts one vote (its accepted fraction);
 *   score = (1 + Σ votes)/(2 + submitters). One submitter cannot pump a friend above 2/3.
 * - Durability: receipts are the only stored state (one `put` each); balances and reputation are
 *   rebuilt on {@link Ledger.open}. The store carries schema version {@link LEDGER_SCHEMA_VERSION};
 *   another version is refused with `LedgerSchemaError`.
 *
 * - Trust (trust.ts, SECURITY.md): with `self` set, a node stores and counts only receipts it is
 *   party to and those from submitters it has dealt with (they paid it, or it verified their work);
 *   strangers' receipts are held in memory, bounded per submitter, in total and in time, and never
 *   counted. Bids are ranked by {@link Ledger.observedReputation}: this node's own receipts only.
 * - Credit: a submitter may owe {@link NEW_IDENTITY_CREDIT} plus what it earned here, at most the
 *   operator's credit limit ({@link Ledger.canAfford}).
 *
 * Known limits: a new identity can still spend its small starting credit and vanish; a colluding
 * majority of a task's replicas can still capture it (see SECURITY.md).
 */
export {
  decodeReceiptBatch,
  encodeReceiptBatch,
  groupReceipts,
  MAX_RECEIPT_BATCH_BYTES,
  MAX_RECEIPTS_PER_BATCH,
} from './batch.js'
export { type Account, Book, type Reputation } from './book.js'
export {
  ForgedSubmitterError,
  InvalidSignatureError,
  LedgerSchemaError,
  MalformedReceiptError,
  OversizeReceiptError,
} from './errors.js'
export { CSV_COLUMNS, type ExportedReceipt, type ExportFormat, formatReceipts } from './export.js'
export {
  type AddOutcome,
  type AddResult,
  LEDGER_SCHEMA_VERSION,
  Ledger,
  NEW_IDENTITY_CREDIT,
  type LedgerComponents,
  preferredReceipt,
} from './ledger.js'
export {
  FUEL_PER_GFUEL,
  MAX_RECEIPT_ID_CHARS,
  MAX_SIGNED_RECEIPT_BYTES,
  RECEIPT_SIGNING_TAG,
  RECEIPT_VERSION,
  type ReceiptDraft,
  type ReceiptInfo,
  type ReceiptVerdict,
  receiptAmount,
  receiptId,
  signReceipt,
  type VerifiedReceipt,
  verifyReceipt,
} from './receipt.js'
export { type LedgerStore, MemoryLedgerStore } from './store.js'
export {
  Acquaintances,
  type Standing,
  STRANGER_RECEIPT_TTL_MS,
  STRANGER_RECEIPTS_MAX,
  STRANGER_RECEIPTS_PER_SUBMITTER,
  StrangerReceipts,
} from './trust.js'
export {
  type ExecutorSettlement,
  levelLedgerStore,
  RECEIPT_BATCH_WINDOW_MS,
  RECEIPTS_TOPIC,
  REPUBLISH_PER_PEER_MS,
  type SettlementComponents,
  type SettlementInit,
  SettlementService,
  type SettlementStats,
} from './settlement.js'
