import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { CapacityRecord as PbRecord, SignedCapacityRecord } from '../pb/capacity.js'

/** DHT key namespace: records live under `/plusone-cap/<peerId>`. */
export const CAPACITY_NAMESPACE = 'plusone-cap'
/** Largest signed record accepted anywhere (put, get, decode). */
export const MAX_CAPACITY_RECORD_BYTES = 1024
/** A record may not claim to live longer than this. */
export const MAX_CAPACITY_TTL_MS = 48 * 60 * 60 * 1000
const MAX_FEATURES = 32
const MAX_FEATURE_CHARS = 64
import { type NetworkId, networkName, PUBLIC_NETWORK, signedBytes, verifySigned } from '../network/index.js'

const DOMAIN_TAG = uint8ArrayFromString('plusone/capacity/1\0')

/** What a node offers the mesh, as the rest of the code sees it. */
export interface Capacity {
  peerId: string
  cores: number
  memoryMB: number
  features: string[]
  /** Ask in micro-credits per Gfuel. */
  price: number
  seq: number
  /** Milliseconds since the epoch. */
  expiresAt: number
  maxTasks: number
  version: string
  /** Serves circuit relay v2 for homes behind NAT. */
  relay?: boolean
}

export class InvalidCapacityRecordError extends Error {
  static name = 'InvalidCapacityRecordError'
  constructor(message: string) {
    super(message)
    this.name = 'InvalidCapacityRecordError'
  }
}

export function capacityKey(peerId: string): Uint8Array {
  return uint8ArrayFromString(`/${CAPACITY_NAMESPACE}/${peerId}`)
}

/** Encodes and signs a capacity record with the publisher's key. */
export async function signCapacity(
  key: PrivateKey,
  cap: Omit<Capacity, 'peerId'>,
  network: NetworkId = PUBLIC_NETWORK,
): Promise<Uint8Array> {
  const record = PbRecord.encode({
    peerId: new Uint8Array(key.publicKey.toMultihash().bytes),
    cores: cap.cores,
    memoryMb: cap.memoryMB,
    features: cap.features,
    price: cap.price,
    seq: cap.seq,
    expiresAt: cap.expiresAt,
    maxTasks: cap.maxTasks,
    version: cap.version,
    relay: cap.relay === true,
  })
  const signature = await key.sign(signedBytes(DOMAIN_TAG, network, record))
  return SignedCapacityRecord.encode({ record, signature: new Uint8Array(signature) })
}

function fail(message: string): never {
  throw new InvalidCapacityRecordError(message)
}

/**
 * Decodes and fully checks a signed capacity record found under `key`: size, shape, that the
 * signature is by the peer named in the key, and that it has not expired. Throws
 * `InvalidCapacityRecordError` with the reason; returns the record otherwise.
 */
export async function verifyCapacity(
  key: Uint8Array,
  value: Uint8Array,
  now = Date.now(),
  network: NetworkId = PUBLIC_NETWORK,
): Promise<Capacity> {
  if (value.byteLength > MAX_CAPACITY_RECORD_BYTES) {
    fail(`record is ${value.byteLength} bytes, over the ${MAX_CAPACITY_RECORD_BYTES}-byte limit`)
  }
  const keyStr = uint8ArrayToString(key)
  const parts = keyStr.split('/')
  if (parts.length !== 3 || parts[0] !== '' || parts[1] !== CAPACITY_NAMESPACE) {
    fail(`key ${JSON.stringify(keyStr.slice(0, 80))} is not /${CAPACITY_NAMESPACE}/<peerId>`)
  }
  let signer: ReturnType<typeof peerIdFromString>
  try {
    signer = peerIdFromString(parts[2])
  } catch {
    fail('key does not name a valid peer id')
  }
  if (signer.publicKey == null) fail('the peer id in the key does not embed a public key')

  let signed: SignedCapacityRecord
  let rec: PbRecord
  try {
    signed = SignedCapacityRecord.decode(value, { limits: {} })
    rec = PbRecord.decode(signed.record, { limits: { features: MAX_FEATURES } })
  } catch (err) {
    fail(`malformed record: ${(err as Error).message}`)
  }
  if (!(await verifySigned(signer.publicKey, DOMAIN_TAG, network, signed.record, signed.signature))) {
    fail(`signature is not by ${parts[2]} in this network (${networkName(network)})`)
  }
  let recordPeer: string
  try {
    recordPeer = peerIdFromMultihash(Digest.decode(rec.peerId)).toString()
  } catch {
    fail('record peer id is malformed')
  }
  if (recordPeer !== signer.toString()) fail('record names a different peer than its key')
  if (rec.features.some((f) => f.length === 0 || f.length > MAX_FEATURE_CHARS))
    fail('record has a bad feature name')
  if (rec.cores === 0 || rec.memoryMb === 0) fail('record offers no cores or no memory')
  const expiresAt = rec.expiresAt
  if (expiresAt <= now) fail(`record expired at ${new Date(expiresAt).toISOString()}`)
  if (expiresAt > now + MAX_CAPACITY_TTL_MS) fail('record claims to live longer than 48 hours')
  if (![rec.memoryMb, rec.price, rec.seq, rec.expiresAt].every(Number.isSafeInteger)) {
    fail('record memory, price, sequence or expiry is out of range')
  }
  return {
    peerId: recordPeer,
    cores: rec.cores,
    memoryMB: rec.memoryMb,
    features: rec.features,
    price: rec.price,
    seq: rec.seq,
    expiresAt,
    maxTasks: rec.maxTasks,
    version: rec.version,
    relay: rec.relay,
  }
}

/** kad-dht validator for `/plusone-cap/` keys: throws on any record `verifyCapacity` refuses. */
export async function capacityValidator(
  key: Uint8Array,
  value: Uint8Array,
  network: NetworkId = PUBLIC_NETWORK,
): Promise<void> {
  await verifyCapacity(key, value, Date.now(), network)
}

/** Peers whose highest accepted sequence number a memory validator keeps. */
export const MAX_REMEMBERED_PEERS = 10_000

/**
 * A kad-dht validator for one node that also refuses a record with a lower sequence number than
 * one it has already accepted for the same peer. kad-dht stores whatever passes validation, so
 * without this a replayed old record (validly signed, not yet expired) would overwrite the newer
 * one a peer holds. Remembers at most `maxPeers` peers, forgetting the least recently seen.
 */
export function capacityValidatorWithMemory(
  maxPeers = MAX_REMEMBERED_PEERS,
  network: NetworkId = PUBLIC_NETWORK,
): (key: Uint8Array, value: Uint8Array) => Promise<void> {
  const highest = new Map<string, number>()
  return async (key, value) => {
    const cap = await verifyCapacity(key, value, Date.now(), network)
    const seen = highest.get(cap.peerId)
    if (seen != null && cap.seq < seen) {
      fail(`sequence ${cap.seq} is older than ${seen}, which this node already accepted`)
    }
    highest.delete(cap.peerId)
    highest.set(cap.peerId, Math.max(seen ?? 0, cap.seq))
    if (highest.size > maxPeers) {
      const oldest = highest.keys().next().value
      if (oldest != null) highest.delete(oldest)
    }
  }
}

/**
 * kad-dht selector: the valid record with the highest sequence number wins (ties: the later
 * expiry). Records that do not verify never win.
 */
export async function capacitySelector(
  key: Uint8Array,
  records: Uint8Array[],
  network: NetworkId = PUBLIC_NETWORK,
): Promise<number> {
  let best = -1
  let bestCap: Capacity | undefined
  for (let i = 0; i < records.length; i++) {
    let cap: Capacity
    try {
      cap = await verifyCapacity(key, records[i], Date.now(), network)
    } catch {
      continue
    }
    if (
      bestCap == null ||
      cap.seq > bestCap.seq ||
      (cap.seq === bestCap.seq && cap.expiresAt > bestCap.expiresAt)
    ) {
      best = i
      bestCap = cap
    }
  }
  // kad-dht expects an index; when nothing is valid it still needs one, and the caller's
  // verifyCapacity on the result rejects it.
  return best === -1 ? 0 : best
}
