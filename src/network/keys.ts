/**
 * Ed25519 signing and verification with the key imported once. `@libp2p/crypto` imports the key
 * into OpenSSL (a JWK parse and a `createPublicKey`/`createPrivateKey`) on every call; a
 * submitter's key signs or is checked for every task, so keeping the imported `KeyObject` saves
 * ~60 % of a signature and ~20 % of a verification here (docs/PERFORMANCE.md). Other key types
 * go through the key's own methods.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'

/** Public keys kept imported (a mesh's active submitters and executors). */
const MAX_PUBLIC_KEYS = 1024
const ED25519_PUBLIC_BYTES = 32
const ED25519_SIGNATURE_BYTES = 64

const publicKeys = new Map<string, KeyObject>()
const privateKeys = new WeakMap<PrivateKey, KeyObject>()

/** A public key as the verifiers here read it: any libp2p key, or something that verifies. */
export interface VerifyingKey {
  type?: string
  raw?: Uint8Array
  verify(data: Uint8Array, signature: Uint8Array): boolean | Promise<boolean>
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url')

function publicKeyObject(raw: Uint8Array): KeyObject {
  const id = b64(raw)
  let key = publicKeys.get(id)
  if (key != null) {
    publicKeys.delete(id) // most recently used last
  } else {
    key = createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: id } })
    if (publicKeys.size >= MAX_PUBLIC_KEYS) {
      const oldest = publicKeys.keys().next().value
      if (oldest !== undefined) publicKeys.delete(oldest)
    }
  }
  publicKeys.set(id, key)
  return key
}

/** Verifies `signature` over `data`; throws only where the key's own check would (bad lengths). */
export async function verifyWith(
  key: VerifyingKey,
  data: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (key.type === 'Ed25519' && key.raw?.byteLength === ED25519_PUBLIC_BYTES) {
    if (signature.byteLength !== ED25519_SIGNATURE_BYTES)
      throw new TypeError('"sig" must be 64 bytes in length.')
    return verify(null, data, publicKeyObject(key.raw), signature)
  }
  return key.verify(data, signature)
}

/** Signs `data` with `key` (an Ed25519 key is imported once per key object). */
export async function signWith(key: PrivateKey, data: Uint8Array): Promise<Uint8Array> {
  if (key.type !== 'Ed25519') return key.sign(data)
  let obj = privateKeys.get(key)
  if (obj == null) {
    obj = createPrivateKey({
      format: 'jwk',
      key: { kty: 'OKP', crv: 'Ed25519', d: b64(key.raw.subarray(0, 32)), x: b64(key.publicKey.raw) },
    })
    privateKeys.set(key, obj)
  }
  return new Uint8Array(sign(null, data, obj))
}
