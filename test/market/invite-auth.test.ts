import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { encodeSpec, signAnnouncement, verifyAnnouncement } from '../../src/market/index.js'
import { madeUpSpec } from '../hostile/helpers.js'

describe('market: an invitation is authenticated by its connection', () => {
  it("admits the submitter's own invitation without a second signature check, and checks every other copy in full", async () => {
    const [submitterKey, other] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const submitter = peerIdFromPrivateKey(submitterKey).toString()
    const stranger = peerIdFromPrivateKey(other).toString()
    const bytes = encodeSpec(madeUpSpec(submitter, { jobId: 'invite' }))
    // inner signature by someone else: only the connection vouches for the bytes
    const wrongSignature = await signAnnouncement(other, bytes, 1)
    const fromSubmitter = await verifyAnnouncement(wrongSignature, Date.now(), undefined, submitter)
    assert.equal(fromSubmitter.spec.submitter, submitter)
    for (const sentBy of [stranger, undefined]) {
      await assert.rejects(verifyAnnouncement(wrongSignature, Date.now(), undefined, sentBy), {
        name: 'InvalidAnnouncementError',
        message: /not by the submitter/,
      })
    }
    // every other check still applies to the submitter's own copy
    await assert.rejects(
      verifyAnnouncement(wrongSignature, Date.now() + 3_600_000_000, undefined, submitter),
      {
        message: /expired/,
      },
    )
  })
})
