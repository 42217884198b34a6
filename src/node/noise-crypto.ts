/**
 * Noise crypto for Node that keeps X25519 keys imported.
 *
 * The stock implementation (`@chainsafe/libp2p-noise`'s `defaultCrypto`, and `@libp2p/noise`,
 * which is the same code) wraps each raw 32-byte key in DER and imports it through OpenSSL on
 * every Diffie-Hellman step: an XX handshake does three DH operations per side, so six key
 * imports, each costing more than the DH itself. This one keeps the `KeyObject`s:
 *
 * - key pairs it generates (the static key, each ephemeral key) keep their private `KeyObject`,
 *   found again by the identity of the returned `privateKey` array (and checked byte for byte,
 *   so a mutated array is imported afresh, never confused with another key);
 * - remote public keys are imported once (as JWK: OpenSSL's DER path costs ~10× more) and kept in a small LRU keyed by their bytes: the
 *   remote ephemeral key is used twice in a handshake, and a peer's static key on every
 *   reconnection;
 * - HKDF uses OpenSSL (`hkdfSync`, RFC 5869 extract-and-expand with an empty info, exactly what
 *   Noise's HKDF is) instead of a JavaScript SHA-256.
 *
 * Hashing and ChaCha20-Poly1305 are the stock ones. Wire-compatible with every Noise peer
 * (test/node/noise-crypto.test.ts); `bench/noise.ts` measures the handshake CPU side by side.
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto'
import type { ICryptoInterface, KeyPair } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'

/** Remote public keys kept imported (one entry is ~100 bytes plus an OpenSSL key). */
export const PUBLIC_KEY_CACHE_ENTRIES = 1024
const KEY_BYTES = 32
const EMPTY = new Uint8Array(0)
// DER header of a raw X25519 private key (RFC 8410, PKCS#8)
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
])

/** Noise passes keys as one array or as a list of chunks. */
type Bytes = Parameters<ICryptoInterface['generateX25519SharedKey']>[0]

function flat(bytes: Bytes): Uint8Array {
  return bytes instanceof Uint8Array ? bytes : bytes.subarray()
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

function der(prefix: Uint8Array, key: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(prefix.byteLength + key.byteLength)
  out.set(prefix, 0)
  out.set(key, prefix.byteLength)
  return out
}

function importPrivate(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: der(PKCS8_PREFIX, raw), format: 'der', type: 'pkcs8' })
}

/** Creates the crypto; each instance has its own caches (one per libp2p node is typical). */
export function cachingNoiseCrypto(
  init: { publicKeyCacheEntries?: number } = {},
): ICryptoInterface & { readonly stats: { privateHits: number; publicHits: number; imports: number } } {
  const maxPublic = init.publicKeyCacheEntries ?? PUBLIC_KEY_CACHE_ENTRIES
  const privateKeys = new WeakMap<Uint8Array, { raw: Uint8Array; key: KeyObject }>()
  const publicKeys = new Map<string, KeyObject>()
  const stats = { privateHits: 0, publicHits: 0, imports: 0 }

  const remember = (raw: Uint8Array, key: KeyObject): Uint8Array => {
    privateKeys.set(raw, { raw: Uint8Array.from(raw), key })
    return raw
  }

  const privateKeyOf = (bytes: Bytes): KeyObject => {
    if (bytes instanceof Uint8Array) {
      const found = privateKeys.get(bytes)
      if (found != null && equal(found.raw, bytes)) {
        stats.privateHits++
        return found.key
      }
    }
    stats.imports++
    const raw = flat(bytes)
    const key = importPrivate(raw)
    if (bytes instanceof Uint8Array) remember(bytes, key)
    return key
  }

  const publicKeyOf = (bytes: Bytes): KeyObject => {
    const raw = flat(bytes)
    const x = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url')
    const found = publicKeys.get(x)
    if (found != null) {
      // least recently used first: move to the end
      publicKeys.delete(x)
      publicKeys.set(x, found)
      stats.publicHits++
      return found
    }
    stats.imports++
    // JWK, not DER: OpenSSL's DER decoder costs ~10× more for the same 32 bytes
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' })
    publicKeys.set(x, key)
    if (publicKeys.size > maxPublic) {
      const oldest = publicKeys.keys().next().value
      if (oldest !== undefined) publicKeys.delete(oldest)
    }
    return key
  }

  return {
    stats,
    hashSHA256: (data) => defaultCrypto.hashSHA256(data),
    chaCha20Poly1305Encrypt: (plaintext, nonce, ad, k) =>
      defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k),
    chaCha20Poly1305Decrypt: (ciphertext, nonce, ad, k, dst) =>
      defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst),

    getHKDF(ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
      const okm = new Uint8Array(hkdfSync('sha256', ikm, ck, EMPTY, 3 * KEY_BYTES))
      return [okm.subarray(0, KEY_BYTES), okm.subarray(KEY_BYTES, 2 * KEY_BYTES), okm.subarray(2 * KEY_BYTES)]
    },

    generateX25519KeyPair(): KeyPair {
      const { privateKey } = generateKeyPairSync('x25519')
      // the JWK export is ~30× cheaper than DER and carries both raw keys
      const { d, x } = privateKey.export({ format: 'jwk' })
      const raw = new Uint8Array(Buffer.from(d ?? '', 'base64url'))
      return {
        publicKey: new Uint8Array(Buffer.from(x ?? '', 'base64url')),
        privateKey: remember(raw, privateKey),
      }
    },

    generateX25519KeyPairFromSeed(seed: Uint8Array): KeyPair {
      const privateKey = importPrivate(seed)
      return {
        publicKey: new Uint8Array(
          Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x ?? '', 'base64url'),
        ),
        privateKey: remember(seed, privateKey),
      }
    },

    generateX25519SharedKey(privateKey: Bytes, publicKey: Bytes): Uint8Array {
      return diffieHellman({ privateKey: privateKeyOf(privateKey), publicKey: publicKeyOf(publicKey) })
    },
  }
}
