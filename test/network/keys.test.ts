import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { signWith, verifyWith } from '../../src/network/index.js'

describe('network keys: Ed25519 with the key imported once', () => {
  it("signs exactly what the key's own sign() does, and verifies like its own verify()", async () => {
    const [a, b] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    for (let i = 0; i < 3; i++) {
      const data = new TextEncoder().encode(`message ${i}`)
      const ours = await signWith(a, data)
      assert.deepEqual(ours, new Uint8Array(await a.sign(data)), 'Ed25519 is deterministic: same bytes')
      assert.equal(await a.publicKey.verify(data, ours), true)
      assert.equal(await verifyWith(a.publicKey, data, ours), true)
      assert.equal(await verifyWith(b.publicKey, data, ours), false, "another key's signature fails")
      const flipped = ours.slice()
      flipped[0] ^= 1
      assert.equal(await verifyWith(a.publicKey, data, flipped), false)
      assert.equal(await verifyWith(a.publicKey, new TextEncoder().encode('other'), ours), false)
    }
    await assert.rejects(verifyWith(a.publicKey, new Uint8Array(1), new Uint8Array(63)), TypeError)
  })

  it('uses the key object itself for other key types', async () => {
    const rsaLike = { type: 'RSA', verify: (d: Uint8Array, s: Uint8Array) => d[0] === s[0] }
    assert.equal(await verifyWith(rsaLike, Uint8Array.of(7), Uint8Array.of(7)), true)
    assert.equal(await verifyWith(rsaLike, Uint8Array.of(7), Uint8Array.of(8)), false)
  })
})
