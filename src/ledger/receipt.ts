/**
 * Signing and verifying settlement receipts. A receipt is signed by the submitter (the payer)
 * over `RECEIPT_SIGNING_TAG || receipt bytes`; anyone can verify it with the public key it carries,
 * which must be the key of the submitter peer id named inside.
 */
import { createHash } from 'node:crypto'
import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import {
  peerIdFromMultihash,
  peerIdFromPrivateKey,
  peerIdFromPublicKey,
  peerIdFromString,
} from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { type NetworkId, PUBLIC_NETWORK, signedBytes, signWith, verifySigned } from '../network/index.js'
import { Receipt, SignedReceipt, Verdict as WireVerdict } from '../pb/ledger.js'
import {
  ForgedSubmitterError,
  InvalidSignatureError,
  MalformedReceiptError,
  OversizeReceiptError,
} from './errors.js'

/** Domain-separation tag prefixed to the receipt bytes before signing. */
export const RECEIPT_SIGNING_TAG = new TextEncoder().encode('plusone/receipt/1\0')
/** Largest signed receipt accepted; checked before decoding. An RSA-4096 key fits. */
export const MAX_SIGNED_RECEIPT_BYTES = 2048
/** Longest task id or job id accepted, in characters. */
export const MAX_RECEIPT_ID_CHARS = 200
export const RECEIPT_VERSION = 1
/** Largest fuel, price or amount a receipt carries: 2^53 − 1. */
export const MAX_WIRE_AMOUNT = BigInt(Number.MAX_SAFE_INTEGER)
/** Latest timestamp a Date can hold, in ms since the epoch. */
const MAX_TIMESTAMP_MS = 8_640_000_000_000_000
/** Fuel per Gfuel: prices are in micro-credits per 10^9 fuel. */
export const FUEL_PER_GFUEL = 1_000_000_000n

export type ReceiptVerdict = 'accepted' | 'rejected' | 'timed_out'

const TO_WIRE: Record<ReceiptVerdict, WireVerdict> = {
  accepted: WireVerdict.ACCEPTED,
  rejected: WireVerdict.REJECTED,
  timed_out: WireVerdict.TIMED_OUT,
}
const FROM_WIRE = new Map<WireVerdict, ReceiptVerdict>(
  Object.entries(TO_WIRE).map(([k, v]) => [v, k as ReceiptVerdict]),
)

/** A receipt's content; peer ids as strings, credits in micro-credits. */
export interface ReceiptInfo {
  taskId: string
  jobId: string
  /** Peer id of the submitter, who signs and pays. */
  submitter: string
  /** Peer id of the executor, who is paid. */
  executor: string
  verdict: ReceiptVerdict
  fuelUsed: bigint
  /** Micro-credits per 10^9 fuel. */
  pricePerGfuel: bigint
  /** Micro-credits credited to the executor: {@link receiptAmount} when accepted, else 0. */
  amount: bigint
  timestampMs: number
  sequence: number
}

/** What the submitter fills in; the submitter comes from its key and the amount is computed. */
export type ReceiptDraft = Omit<ReceiptInfo, 'submitter' | 'amount'>

/** A receipt that passed {@link verifyReceipt}. */
export interface VerifiedReceipt {
  /** Idempotency key: one receipt per (submitter, task, executor). See {@link receiptId}. */
  id: string
  info: ReceiptInfo
  /** The signed message as received; what is stored and re-gossiped. */
  bytes: Uint8Array
  /** sha256 hex of the canonical receipt bytes; tells two conflicting receipts apart. */
  contentHash: string
}

/** Credits for `fuelUsed` at `pricePerGfuel`: floor(price × fuel / 10^9) micro-credits. */
export function receiptAmount(verdict: ReceiptVerdict, pricePerGfuel: bigint, fuelUsed: bigint): bigint {
  return verdict === 'accepted' ? (pricePerGfuel * fuelUsed) / FUEL_PER_GFUEL : 0n
}

function lengthPrefixed(parts: string[]): Uint8Array {
  const enc = new TextEncoder()
  const chunks = parts.map((p) => enc.encode(p))
  const out = new Uint8Array(chunks.reduce((n, c) => n + 4 + c.length, 0))
  const view = new DataView(out.buffer)
  let at = 0
  for (const c of chunks) {
    view.setUint32(at, c.length)
    out.set(c, at + 4)
    at += 4 + c.length
  }
  return out
}

/**
 * The id under which a receipt is stored: sha256 of (submitter, task id, executor). So a
 * receipt seen twice is stored once, and a submitter can settle one executor of one task only
 * once: a second, different receipt for the same triple is an equivocation and the `Ledger` keeps
 * exactly one of the two by a rule that does not depend on arrival order. The submitter is part
 * of the key so that nobody can block an executor's payment by signing a receipt for someone
 * else's task first.
 */
export function receiptId(submitter: string, taskId: string, executor: string): string {
  return createHash('sha256')
    .update(lengthPrefixed(['plusone/receipt-id/1', submitter, taskId, executor]))
    .digest('hex')
}

/** Copies into a fresh ArrayBuffer-backed array, the type the generated codecs expect. */
function own(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(bytes)
}

function peerBytes(peer: string): Uint8Array<ArrayBuffer> {
  return own(peerIdFromString(peer).toMultihash().bytes)
}

function tagged(receipt: Uint8Array, network: NetworkId): Uint8Array {
  return signedBytes(RECEIPT_SIGNING_TAG, network, receipt)
}

/** The wire carries amounts as numbers (see ledger.proto): they must stay below 2^53. */
function wireNumber(name: string, value: bigint): number {
  if (value < 0n || value > MAX_WIRE_AMOUNT)
    throw new MalformedReceiptError(`${name} ${value} is outside 0 … 2^53−1`)
  return Number(value)
}

/**
 * Encodes and signs a receipt with the submitter's private key; returns the `SignedReceipt` bytes.
 * @throws MalformedReceiptError when fuel, price or the amount do not fit the wire (≥ 2^53)
 */
export async function signReceipt(
  submitterKey: PrivateKey,
  draft: ReceiptDraft,
  network: NetworkId = PUBLIC_NETWORK,
): Promise<Uint8Array> {
  const amount = receiptAmount(draft.verdict, draft.pricePerGfuel, draft.fuelUsed)
  const receipt = Receipt.encode({
    version: RECEIPT_VERSION,
    taskId: draft.taskId,
    jobId: draft.jobId,
    submitter: own(peerIdFromPrivateKey(submitterKey).toMultihash().bytes),
    executor: peerBytes(draft.executor),
    verdict: TO_WIRE[draft.verdict],
    fuelUsed: wireNumber('fuel used', draft.fuelUsed),
    pricePerGfuel: wireNumber('price per Gfuel', draft.pricePerGfuel),
    amount: wireNumber('amount', amount),
    timestampMs: draft.timestampMs,
    sequence: draft.sequence,
  })
  // the key imported once (network/keys.ts): a submitter signs a receipt per executor per task
  const signature = await signWith(submitterKey, tagged(receipt, network))
  return SignedReceipt.encode({
    receipt,
    publicKey: own(publicKeyToProtobuf(submitterKey.publicKey)),
    signature: own(signature),
  })
}

function decodePeer(bytes: Uint8Array, field: string): string {
  try {
    return peerIdFromMultihash(Digest.decode(bytes)).toString()
  } catch {
    throw new MalformedReceiptError(`${field} is not a peer id`)
  }
}

function decodeInfo(bytes: Uint8Array): ReceiptInfo {
  let r: Receipt
  try {
    r = Receipt.decode(bytes)
  } catch (err) {
    throw new MalformedReceiptError(`receipt does not decode (${(err as Error).message})`)
  }
  if (!uint8ArrayEquals(Receipt.encode(r), bytes))
    throw new MalformedReceiptError('receipt is not canonically encoded')
  if (r.version !== RECEIPT_VERSION) throw new MalformedReceiptError(`unknown receipt version ${r.version}`)
  const verdict = FROM_WIRE.get(r.verdict)
  if (verdict === undefined) throw new MalformedReceiptError(`unknown verdict ${String(r.verdict)}`)
  for (const [name, value] of [
    ['task id', r.taskId],
    ['job id', r.jobId],
  ] as const) {
    if (value.length > MAX_RECEIPT_ID_CHARS)
      throw new MalformedReceiptError(`${name} longer than ${MAX_RECEIPT_ID_CHARS}`)
  }
  if (r.taskId.length === 0) throw new MalformedReceiptError('task id is empty')
  for (const [name, value] of [
    ['sequence', r.sequence],
    ['fuel used', r.fuelUsed],
    ['price per Gfuel', r.pricePerGfuel],
    ['amount', r.amount],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new MalformedReceiptError(`${name} out of range`)
  }
  if (!Number.isSafeInteger(r.timestampMs) || r.timestampMs > MAX_TIMESTAMP_MS) {
    throw new MalformedReceiptError('timestamp out of range')
  }
  const [fuelUsed, pricePerGfuel, amount] = [BigInt(r.fuelUsed), BigInt(r.pricePerGfuel), BigInt(r.amount)]
  const expected = receiptAmount(verdict, pricePerGfuel, fuelUsed)
  if (amount !== expected) {
    throw new MalformedReceiptError(
      `amount ${r.amount} is not ${expected} (price × fuel / 10^9 when accepted, else 0)`,
    )
  }
  return {
    taskId: r.taskId,
    jobId: r.jobId,
    submitter: decodePeer(r.submitter, 'submitter'),
    executor: decodePeer(r.executor, 'executor'),
    verdict,
    fuelUsed,
    pricePerGfuel,
    amount,
    timestampMs: r.timestampMs,
    sequence: r.sequence,
  }
}

function decodeSigned(bytes: Uint8Array): { signed: SignedReceipt; info: ReceiptInfo } {
  if (bytes.length > MAX_SIGNED_RECEIPT_BYTES)
    throw new OversizeReceiptError(bytes.length, MAX_SIGNED_RECEIPT_BYTES)
  let signed: SignedReceipt
  try {
    signed = SignedReceipt.decode(bytes)
  } catch (err) {
    throw new MalformedReceiptError(`signed receipt does not decode (${(err as Error).message})`)
  }
  return { signed, info: decodeInfo(signed.receipt) }
}

function verified(bytes: Uint8Array, signed: SignedReceipt, info: ReceiptInfo): VerifiedReceipt {
  return {
    id: receiptId(info.submitter, info.taskId, info.executor),
    info,
    bytes,
    contentHash: createHash('sha256').update(signed.receipt).digest('hex'),
  }
}

/**
 * Checks a signed receipt from anyone: size, encoding, rules, that the signer is the submitter,
 * and the signature — made for `network` (a receipt from another network fails it). Never trusts
 * the content before all of that holds.
 * @throws OversizeReceiptError, MalformedReceiptError, ForgedSubmitterError, InvalidSignatureError
 */
export async function verifyReceipt(
  bytes: Uint8Array,
  network: NetworkId = PUBLIC_NETWORK,
): Promise<VerifiedReceipt> {
  const { signed, info } = decodeSigned(bytes)
  let key: PublicKey
  try {
    key = publicKeyFromProtobuf(signed.publicKey)
  } catch {
    throw new MalformedReceiptError('public key does not decode')
  }
  const signer = peerIdFromPublicKey(key).toString()
  if (signer !== info.submitter) throw new ForgedSubmitterError(signer, info.submitter)
  // the submitter's key imported once (network/keys.ts): every node checks every receipt
  if (!(await verifySigned(key, RECEIPT_SIGNING_TAG, network, signed.receipt, signed.signature)))
    throw new InvalidSignatureError()
  return verified(bytes, signed, info)
}

/**
 * Decodes a receipt this node verified before storing it, without checking the signature again
 * (re-verifying every receipt would make opening a large ledger slow). Not for network input.
 */
export function readStoredReceipt(bytes: Uint8Array): VerifiedReceipt {
  const { signed, info } = decodeSigned(bytes)
  return verified(bytes, signed, info)
}
