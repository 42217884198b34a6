/** Deterministic keys and hand-built receipts for ledger tests. */
import { generateKeyPairFromSeed, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Receipt, SignedReceipt, Verdict } from '../../src/pb/ledger.js'
import { RECEIPT_SIGNING_TAG, type ReceiptDraft } from '../../src/ledger/index.js'

export interface TestPeer {
  key: PrivateKey
  id: string
}

export async function peer(n: number): Promise<TestPeer> {
  const seed = new Uint8Array(32).fill(n + 1)
  const key = await generateKeyPairFromSeed('Ed25519', seed)
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

export async function peers(count: number): Promise<TestPeer[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => peer(i)))
}

export function draft(executor: string, over: Partial<ReceiptDraft> = {}): ReceiptDraft {
  return {
    taskId: 'bafytask1',
    jobId: 'job-1',
    executor,
    verdict: 'accepted',
    fuelUsed: 2_000_000_000n,
    pricePerGfuel: 1_500n,
    timestampMs: 1_700_000_000_000,
    sequence: 1,
    ...over,
  }
}

function own(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(b)
}

/** A raw Receipt with sensible defaults, for building invalid ones by hand. */
export function rawReceipt(submitter: TestPeer, executor: TestPeer, over: Partial<Receipt> = {}): Receipt {
  return {
    version: 1,
    taskId: 'bafytask1',
    jobId: 'job-1',
    submitter: own(peerIdFromPrivateKey(submitter.key).toMultihash().bytes),
    executor: own(peerIdFromPrivateKey(executor.key).toMultihash().bytes),
    verdict: Verdict.ACCEPTED,
    fuelUsed: 1_000_000_000,
    pricePerGfuel: 10,
    amount: 10,
    timestampMs: 1,
    sequence: 1,
    ...over,
  }
}

/** Signs arbitrary receipt bytes with `signer`'s key, whatever the receipt says. */
export async function signRaw(signer: TestPeer, receipt: Uint8Array): Promise<Uint8Array> {
  const msg = new Uint8Array(RECEIPT_SIGNING_TAG.length + receipt.length)
  msg.set(RECEIPT_SIGNING_TAG)
  msg.set(receipt, RECEIPT_SIGNING_TAG.length)
  const signature = await signer.key.sign(msg)
  return SignedReceipt.encode({
    receipt: own(receipt),
    publicKey: own(publicKeyToProtobuf(signer.key.publicKey)),
    signature: own(signature),
  })
}

export { Receipt, SignedReceipt, Verdict }
