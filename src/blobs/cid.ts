import { createHash, type Hash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidBlobCidError } from './errors.js'

/** Multicodec code of the raw codec. */
export const RAW_CODEC = 0x55
/** Multihash code of sha2-256. */
export const SHA256_CODE = 0x12
/** Length of a sha2-256 digest. */
export const SHA256_DIGEST_BYTES = 32
/** Longest CID string accepted from hostile input (a base32 blob CID is 59 characters). */
export const MAX_CID_STRING_CHARS = 128
/** Longest binary CID accepted from hostile input (a blob CID is 36 bytes). */
export const MAX_CID_BYTES = 64

/** A blob CID: CIDv1, raw codec, sha256 multihash. */
export type BlobCid = CID<unknown, typeof RAW_CODEC, typeof SHA256_CODE, 1>

function check(cid: CID): BlobCid {
  if (
    cid.version !== 1 ||
    cid.code !== RAW_CODEC ||
    cid.multihash.code !== SHA256_CODE ||
    cid.multihash.size !== SHA256_DIGEST_BYTES
  ) {
    throw new InvalidBlobCidError()
  }
  return cid as BlobCid
}

/**
 * Parses and validates a blob CID from hostile input: a string (any multibase the default
 * decoder knows, i.e. base32 `b…`), its binary form, or a CID object. Anything that is not a
 * CIDv1 with raw codec and a 32-byte sha256 multihash throws {@link InvalidBlobCidError}.
 */
export function parseBlobCid(input: string | Uint8Array | CID): BlobCid {
  if (input instanceof Uint8Array) {
    if (input.byteLength > MAX_CID_BYTES) throw new InvalidBlobCidError('blob CID too long')
    let cid: CID
    try {
      cid = CID.decode(input)
    } catch {
      throw new InvalidBlobCidError()
    }
    return check(cid)
  }
  if (typeof input === 'string') {
    if (input.length > MAX_CID_STRING_CHARS) throw new InvalidBlobCidError('blob CID too long')
    let cid: CID
    try {
      cid = CID.parse(input)
    } catch {
      throw new InvalidBlobCidError()
    }
    return check(cid)
  }
  const cid = CID.asCID(input)
  if (cid == null) throw new InvalidBlobCidError()
  return check(cid)
}

/** Builds the blob CID for a finished sha256 digest. */
export function blobCidFromDigest(sha256: Uint8Array): BlobCid {
  return CID.createV1(RAW_CODEC, Digest.create(SHA256_CODE, sha256)) as BlobCid
}

/** The blob CID of `bytes` (hashed synchronously with node:crypto). */
export function blobCidOf(bytes: Uint8Array): BlobCid {
  return blobCidFromDigest(createHash('sha256').update(bytes).digest())
}

/** Incremental sha256 that ends in a blob CID; feed it the bytes in order. */
export class BlobHasher {
  private readonly hash: Hash = createHash('sha256')
  update(bytes: Uint8Array): void {
    this.hash.update(bytes)
  }
  digest(): BlobCid {
    return blobCidFromDigest(this.hash.digest())
  }
}
