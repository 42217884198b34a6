/**
 * Issue 11, item 7: nothing signed named the network, so a receipt, announcement, claim or
 * capacity record from a private swarm could be replayed into the public mesh (or another swarm).
 * Now every signature covers the network (network/index.ts); a replay fails verification.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { after, before, describe, it } from 'node:test'
import { blobCidOf } from '../../src/blobs/index.js'
import { capacityKey, signCapacity, verifyCapacity } from '../../src/capacity/index.js'
import { encodeReceiptBatch, RECEIPTS_TOPIC, signReceipt, verifyReceipt } from '../../src/ledger/index.js'
import {
  type Claim,
  encodeSpec,
  resultHashOf,
  signAnnouncement,
  signClaim,
  TASKS_TOPIC,
  verifyAnnouncement,
  verifyClaim,
} from '../../src/market/index.js'
import { networkName, networkOf, PUBLIC_NETWORK } from '../../src/network/index.js'
import { newSwarmKey } from '../../src/node/index.js'
import type { PlusoneNode } from '../../src/node/index.js'
import { createMesh, eventually, type Mesh } from '../mesh.js'
import { attacker, idOf, madeUpSpec } from './helpers.js'

const swarmA = networkOf(newSwarmKey())
const swarmB = networkOf(newSwarmKey())
const networks = [
  ['swarm A', swarmA],
  ['swarm B', swarmB],
  ['the public mesh', PUBLIC_NETWORK],
] as const

function specBytes(submitter: string): Uint8Array {
  return encodeSpec(madeUpSpec(submitter, { jobId: 'replay' }))
}

describe('hostile: replaying signed messages across networks', () => {
  it('every kind of signed message verifies only in the network it was signed for', async () => {
    const key = await generateKeyPair('Ed25519')
    const me = peerIdFromPrivateKey(key).toString()
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const spec = await specBytes(me)
    const output = randomBytes(16)
    const claim: Claim = {
      taskId: blobCidOf(spec).toString(),
      executor: me,
      status: 'ok',
      fuelUsed: 10,
      outputHash: blobCidOf(output).multihash.digest,
      outputCid: blobCidOf(output),
      outputBytes: 16,
      resultHash: '',
    }
    claim.resultHash = resultHashOf(claim)
    const cap = {
      cores: 1,
      memoryMB: 64,
      features: [],
      price: 1,
      seq: 1,
      expiresAt: Date.now() + 60_000,
      maxTasks: 1,
      version: 't',
    }
    const draft = {
      taskId: 'bafyreplay',
      jobId: 'replay',
      executor: other,
      verdict: 'accepted' as const,
      fuelUsed: 1_000_000_000n,
      pricePerGfuel: 1n,
      timestampMs: Date.now(),
      sequence: 1,
    }
    for (const [where, signedIn] of networks) {
      const signed = {
        announcement: await signAnnouncement(key, spec, 1, false, signedIn),
        claim: await signClaim(key, claim, signedIn),
        receipt: await signReceipt(key, draft, signedIn),
        capacity: await signCapacity(key, cap, signedIn),
      }
      for (const [there, verifiedIn] of networks) {
        const checks = [
          verifyAnnouncement(signed.announcement, Date.now(), verifiedIn),
          verifyClaim(signed.claim, me, verifiedIn),
          verifyReceipt(signed.receipt, verifiedIn),
          verifyCapacity(capacityKey(me), signed.capacity, Date.now(), verifiedIn),
        ]
        for (const check of checks) {
          if (signedIn === verifiedIn) await check
          else await assert.rejects(check, Error, `signed in ${where}, must fail in ${there}`)
        }
      }
    }
    assert.equal(networkName(PUBLIC_NETWORK), 'public')
    assert.match(networkName(swarmA), /^private:[0-9a-f]{8}$/)
  })

  describe('on a live public mesh', () => {
    let mesh: Mesh
    let evil: PlusoneNode
    before(async () => {
      mesh = await createMesh(2)
      evil = await attacker(mesh.daemons, [RECEIPTS_TOPIC, TASKS_TOPIC])
    })
    after(async () => {
      await evil?.stop()
      await mesh?.stop()
    })

    it('refuses a receipt and an announcement replayed from a private swarm', async () => {
      const victim = mesh.daemons[1]
      const submitterKey = await generateKeyPair('Ed25519')
      // a receipt from swarm A paying the victim: it is party to it, so it would count if valid
      const receipt = await signReceipt(
        submitterKey,
        {
          taskId: 'bafyprivate',
          jobId: 'private',
          executor: idOf(victim),
          verdict: 'accepted',
          fuelUsed: 1_000_000_000n,
          pricePerGfuel: 5_000_000n,
          timestampMs: Date.now(),
          sequence: 1,
        },
        swarmA,
      )
      const announcement = await signAnnouncement(
        submitterKey,
        await specBytes(peerIdFromPrivateKey(submitterKey).toString()),
        1,
        false,
        swarmA,
      )
      const rejectedBefore = victim.settlement.stats().rejected
      const announcementsBefore = victim.market.stats().announcementsRejected
      await evil.services.pubsub.publish(RECEIPTS_TOPIC, encodeReceiptBatch([receipt]))
      await evil.services.pubsub.publish(TASKS_TOPIC, announcement)
      const refused = (): boolean =>
        victim.settlement.stats().rejected > rejectedBefore &&
        victim.market.stats().announcementsRejected > announcementsBefore
      await eventually('the victim to refuse both', async () => (refused() ? true : undefined))
      assert.equal(victim.ledger.account(idOf(victim)).earned, 0n, 'the replayed receipt pays nothing')
      assert.equal(victim.network, PUBLIC_NETWORK)
    })
  })
})
