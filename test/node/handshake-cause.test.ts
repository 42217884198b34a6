/**
 * What the daemon's log says about a failed handshake: a stream the other side reset (a dial
 * it gave up on half way — seen in the NAT lab when a request timed out while its relayed dial
 * was being set up) is not reported as a swarm-key mismatch alone.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { handshakeCause } from '../../src/node/index.js'

const named = (name: string): Error => Object.assign(new Error('x'), { name })

describe('handshakeCause', () => {
  it('a reset stream says the other side broke off, giving both possible reasons', () => {
    for (const name of ['StreamResetError', 'StreamStateError']) {
      const cause = handshakeCause(named(name), true)
      assert.match(cause, /broke off the handshake/)
      assert.match(cause, /gave up on the dial/)
      assert.match(cause, /does not hold this swarm key/)
    }
    assert.match(handshakeCause(named('StreamResetError'), false), /private swarm/)
  })

  it('a decryption failure is a swarm-key mismatch; another peer at the address is a stale address', () => {
    assert.equal(
      handshakeCause(named('EncryptionFailedError'), true),
      'the peer does not hold this swarm key',
    )
    assert.match(handshakeCause(named('UnexpectedPeerError'), true), /stale or unroutable address/)
  })
})
