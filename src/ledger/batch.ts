/**
 * Receipts travel in batches: one gossip message carries the receipts of every task a submitter
 * settled within a short window (settlement.ts RECEIPT_BATCH_WINDOW_MS; a re-publication carries
 * recent receipts a batch at a time). Each receipt inside stays signed on its own, so it is
 * verified, stored and exported exactly as before; the batch only saves the per-message cost of
 * gossip — an outer gossipsub signature made and checked by every node, and every copy of the
 * message encrypted, framed and sent between every pair of mesh peers (docs/PERFORMANCE.md: a k=3
 * task sent 3 messages, ~100 copies in a 10-node mesh).
 */
import { ReceiptBatch } from '../pb/ledger.js'
import { MalformedReceiptError, OversizeReceiptError } from './errors.js'
import { MAX_SIGNED_RECEIPT_BYTES } from './receipt.js'

/** Most receipts one batch carries (a task's replicas and reissues fit many times over). */
export const MAX_RECEIPTS_PER_BATCH = 32
/**
 * Largest encoded batch accepted, checked before decoding; below gossipsub's message limit
 * (node.ts MAX_GOSSIP_MESSAGE_BYTES, 64 KiB) with room for its envelope.
 */
export const MAX_RECEIPT_BATCH_BYTES = 48 * 1024
/** Protobuf overhead per receipt in a batch: a tag and a length of at most 2 bytes. */
const PER_RECEIPT_OVERHEAD = 3

/**
 * Splits signed receipts into as few groups as a batch's limits allow, in order; each group is
 * one {@link encodeReceiptBatch}. Empty input gives no group.
 * @throws OversizeReceiptError when one receipt is larger than MAX_SIGNED_RECEIPT_BYTES
 */
export function groupReceipts(receipts: readonly Uint8Array[]): Uint8Array[][] {
  const groups: Uint8Array[][] = []
  let current: Uint8Array[] = []
  let bytes = 0
  for (const r of receipts) {
    if (r.byteLength > MAX_SIGNED_RECEIPT_BYTES)
      throw new OversizeReceiptError(r.byteLength, MAX_SIGNED_RECEIPT_BYTES)
    const size = r.byteLength + PER_RECEIPT_OVERHEAD
    if (current.length === MAX_RECEIPTS_PER_BATCH || bytes + size > MAX_RECEIPT_BATCH_BYTES) {
      groups.push(current)
      current = []
      bytes = 0
    }
    current.push(r)
    bytes += size
  }
  if (current.length > 0) groups.push(current)
  return groups
}

/** One gossip message of signed receipts (at most MAX_RECEIPTS_PER_BATCH; see {@link groupReceipts}). */
export function encodeReceiptBatch(receipts: readonly Uint8Array[]): Uint8Array {
  // the encoder only reads the bytes; the generated type asks for ArrayBuffer-backed arrays
  return ReceiptBatch.encode({ receipts: [...receipts] as Array<Uint8Array<ArrayBuffer>> })
}

/**
 * The signed receipts a batch from the network carries, none of them verified yet: bounded in
 * bytes before decoding, in count while decoding, and each receipt in size.
 * @throws MalformedReceiptError (too large, does not decode, empty, too many receipts), OversizeReceiptError (one receipt too large)
 */
export function decodeReceiptBatch(bytes: Uint8Array): Uint8Array[] {
  if (bytes.byteLength > MAX_RECEIPT_BATCH_BYTES)
    throw new MalformedReceiptError(
      `receipt batch of ${bytes.byteLength} bytes exceeds the limit of ${MAX_RECEIPT_BATCH_BYTES} bytes`,
    )
  let batch: ReceiptBatch
  try {
    batch = ReceiptBatch.decode(bytes, { limits: { receipts: MAX_RECEIPTS_PER_BATCH } })
  } catch (err) {
    throw new MalformedReceiptError(`receipt batch does not decode (${(err as Error).message})`)
  }
  if (batch.receipts.length === 0) throw new MalformedReceiptError('receipt batch is empty')
  for (const r of batch.receipts) {
    if (r.byteLength > MAX_SIGNED_RECEIPT_BYTES)
      throw new OversizeReceiptError(r.byteLength, MAX_SIGNED_RECEIPT_BYTES)
  }
  return batch.receipts
}
