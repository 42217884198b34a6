import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { type ICryptoInterface, pureJsCrypto } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { cachingNoiseCrypto } from '../../src/node/index.js'
import { encrypter } from './noise-helpers.js'

type Chunks = Parameters<ICryptoInterface['generateX25519SharedKey']>[1]

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('the caching noise crypto', () => {
  it('computes the same X25519 shared secrets as the stock crypto, for fresh and reused keys', () => {
    const ours = cachingNoiseCrypto()
    const a = ours.generateX25519KeyPair()
    const b = defaultCrypto.generateX25519KeyPair()
    const c = ours.generateX25519KeyPairFromSeed(new Uint8Array(randomBytes(32)))
    for (let round = 0; round < 3; round++) {
      for (const [priv, pub] of [
        [a, b],
        [b, a],
        [c, a],
        [a, c],
      ] as const) {
        const expected = hex(pureJsCrypto.generateX25519SharedKey(priv.privateKey, pub.publicKey))
        assert.equal(hex(ours.generateX25519SharedKey(priv.privateKey, pub.publicKey)), expected)
        // keys handed over as chunk lists (how noise passes decrypted remote keys)
        // (noise's own copy of uint8arraylist may be another version: same shape, other type)
        const list = new Uint8ArrayList(
          pub.publicKey.subarray(0, 7),
          pub.publicKey.subarray(7),
        ) as unknown as Chunks
        assert.equal(hex(ours.generateX25519SharedKey(priv.privateKey, list)), expected)
      }
    }
    assert.ok(ours.stats.privateHits > 0 && ours.stats.publicHits > 0, 'repeated keys come from the caches')
    assert.equal(
      hex(c.publicKey),
      hex(pureJsCrypto.generateX25519KeyPairFromSeed(c.privateKey).publicKey),
      'the public key of a seed is the standard one',
    )
  })

  it('never uses a cached key for a private key array whose bytes changed', () => {
    const ours = cachingNoiseCrypto()
    const mine = ours.generateX25519KeyPair()
    const peer = pureJsCrypto.generateX25519KeyPair()
    ours.generateX25519SharedKey(mine.privateKey, peer.publicKey)
    mine.privateKey.set(randomBytes(32))
    assert.equal(
      hex(ours.generateX25519SharedKey(mine.privateKey, peer.publicKey)),
      hex(pureJsCrypto.generateX25519SharedKey(mine.privateKey, peer.publicKey)),
    )
  })

  it('keeps at most the configured number of remote public keys', () => {
    const ours = cachingNoiseCrypto({ publicKeyCacheEntries: 2 })
    const mine = ours.generateX25519KeyPair()
    const peers = [0, 1, 2].map(() => pureJsCrypto.generateX25519KeyPair().publicKey)
    for (const p of peers) ours.generateX25519SharedKey(mine.privateKey, p)
    const imports = ours.stats.imports
    ours.generateX25519SharedKey(mine.privateKey, peers[2])
    assert.equal(ours.stats.imports, imports, 'the newest key is still cached')
    ours.generateX25519SharedKey(mine.privateKey, peers[0])
    assert.equal(ours.stats.imports, imports + 1, 'the oldest key was evicted and is imported again')
  })

  it('derives the same HKDF output as the stock implementation', () => {
    const ours = cachingNoiseCrypto()
    for (let i = 0; i < 5; i++) {
      const ck = new Uint8Array(randomBytes(32))
      const ikm = new Uint8Array(randomBytes(i === 0 ? 0 : 32))
      assert.deepEqual(ours.getHKDF(ck, ikm).map(hex), pureJsCrypto.getHKDF(ck, ikm).map(hex))
    }
  })

  it('completes handshakes with stock noise in both directions and carries data', async () => {
    const [keyA, keyB] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const stock = { key: keyA, enc: encrypter(keyA, defaultCrypto) }
    const ours = { key: keyB, enc: encrypter(keyB, cachingNoiseCrypto()) }
    for (const [from, to] of [
      [stock, ours],
      [ours, stock],
      [ours, stock],
    ]) {
      const [outbound, inbound] = multiaddrConnectionPair()
      const [a, b] = await Promise.all([
        from.enc.secureOutbound(outbound, { remotePeer: peerIdFromPrivateKey(to.key) }),
        to.enc.secureInbound(inbound),
      ])
      assert.ok(a.remotePeer.equals(peerIdFromPrivateKey(to.key)))
      assert.ok(b.remotePeer.equals(peerIdFromPrivateKey(from.key)))
      const received = new Promise<Uint8Array>((resolve) => {
        b.connection.addEventListener('message', (evt) => resolve(evt.data.subarray()), { once: true })
      })
      a.connection.send(new TextEncoder().encode('over noise'))
      assert.equal(new TextDecoder().decode(await received), 'over noise')
      await Promise.all([a.connection.close(), b.connection.close()])
    }
  })
})
