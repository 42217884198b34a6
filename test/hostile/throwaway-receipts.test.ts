/**
 * Attack 2 of issue 11: receipts minted by throwaway identities. An attacker makes 1,000 keys and
 * has each sign a receipt paying one beneficiary 1,000,000 credits, and gossips them. On main every
 * node stored them forever and fed them to reputation: the beneficiary reached score 0.999, ranked
 * first for awards, with a balance of a billion credits. Now a node counts only receipts it is
 * party to or from submitters it has dealt with; strangers' receipts are held in memory, bounded,
 * and never move balances, reputation or disk.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { after, before, describe, it } from 'node:test'
import {
  encodeReceiptBatch,
  RECEIPTS_TOPIC,
  signReceipt,
  STRANGER_RECEIPTS_MAX,
} from '../../src/ledger/index.js'
import type { PlusoneNode } from '../../src/node/index.js'
import { createMesh, eventually, type Mesh } from '../mesh.js'
import { attacker, credits, diskBytes, receiptsOf } from './helpers.js'

const JUNK = 1_000

describe('hostile: receipts signed by throwaway identities', () => {
  let mesh: Mesh
  let evil: PlusoneNode
  before(async () => {
    mesh = await createMesh(2)
    evil = await attacker(mesh.daemons, [RECEIPTS_TOPIC])
  })
  after(async () => {
    await evil?.stop()
    await mesh?.stop()
  })

  it('do not move the victim’s balances, reputation or disk', async (t) => {
    const victim = mesh.daemons[1]
    const beneficiary = evil.peerId.toString()
    const storedBefore = (await receiptsOf(victim)).length
    const diskBefore = await diskBytes(victim.dataDir)
    const handled = (): number => {
      const s = victim.settlement.stats()
      return s.added + s.duplicates + s.rejected + ((s as { ignored?: number }).ignored ?? 0)
    }
    const handledBefore = handled()
    for (let i = 0; i < JUNK; i++) {
      const bytes = await signReceipt(await generateKeyPair('Ed25519'), {
        taskId: `bafyjunk${i}`,
        jobId: 'junk',
        executor: beneficiary,
        verdict: 'accepted',
        fuelUsed: 1_000_000_000_000n,
        pricePerGfuel: 1_000_000_000n,
        timestampMs: Date.now(),
        sequence: i,
      })
      await evil.services.pubsub.publish(RECEIPTS_TOPIC, encodeReceiptBatch([bytes]))
    }
    await eventually(
      `the victim to handle all ${JUNK} receipts`,
      async () => (handled() - handledBefore >= JUNK ? true : undefined),
      { attempts: 120, intervalMs: 250 },
    )
    const stored = (await receiptsOf(victim)).length - storedBefore
    const disk = (await diskBytes(victim.dataDir)) - diskBefore
    const rep = victim.ledger.reputation(beneficiary)
    const ranked = victim.ledger.observedReputation(beneficiary)
    const balance = victim.ledger.account(beneficiary).balance
    t.diagnostic(
      `after ${JUNK} junk receipts: stored +${stored}, disk +${(disk / 1024).toFixed(0)} KiB, ` +
        `held in memory ${victim.ledger.heldReceipts}, beneficiary score ${rep.score.toFixed(3)} ` +
        `(ranking ${ranked.score.toFixed(3)}), balance ${credits(balance)} credits`,
    )
    assert.equal(stored, 0, 'no stranger’s receipt is stored')
    assert.equal(balance, 0n, 'no balance from strangers')
    assert.equal(rep.score, 0.5, 'reputation unmoved: a stranger still')
    assert.equal(ranked.score, 0.5, 'ranking unmoved')
    assert.ok(victim.ledger.heldReceipts <= STRANGER_RECEIPTS_MAX, 'what is held is bounded')
    assert.ok(disk < 64 * 1024, `disk grew by ${disk} bytes`)
  })
})
