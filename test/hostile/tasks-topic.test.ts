/**
 * Fairness under floods (issue 11): gossipsub checks every task announcement before it forwards
 * it. On main the tasks topic had no validator: gossipsub accepted any message its sender signed
 * and forwarded it to the whole mesh, and only the market refused a forged announcement
 * afterwards, at every node, with no cost to the sender. Now the victim rejects it in gossipsub's
 * validator: it is not forwarded, and the sender's peer score pays (three such messages take it
 * below the graylist threshold).
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { after, before, describe, it } from 'node:test'
import { encodeSpec, signAnnouncement, TASKS_TOPIC } from '../../src/market/index.js'
import type { PlusoneNode } from '../../src/node/index.js'
import { createMesh, fullyConnect, type Mesh } from '../mesh.js'
import { waitFor } from '../market/helpers.js'
import { attacker, madeUpSpec } from './helpers.js'

describe('hostile: forged announcements on the tasks topic', { timeout: 60_000 }, () => {
  let mesh: Mesh
  let evil: PlusoneNode
  before(async () => {
    mesh = await createMesh(2)
    await fullyConnect(mesh.daemons, [TASKS_TOPIC])
    // connected to the victim only: whatever the bystander sees, the victim forwarded
    evil = await attacker([mesh.daemons[0]], [TASKS_TOPIC])
  })
  after(async () => {
    await evil?.stop()
    await mesh?.stop()
  })

  it('the victim neither forwards them nor keeps the sender’s score', async (t) => {
    const [victim, bystander] = mesh.daemons
    const evilId = evil.peerId.toString()
    const evilKey = await generateKeyPair('Ed25519')
    const someoneElse = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const counters = (d: typeof victim) => d.market.stats()
    const victimBefore = counters(victim)
    const bystanderBefore = counters(bystander)
    // two announcements naming someone else as submitter, signed by the attacker: forgeries
    for (let i = 0; i < 2; i++) {
      const forged = await signAnnouncement(evilKey, encodeSpec(madeUpSpec(someoneElse)), 1, false)
      await evil.services.pubsub.publish(TASKS_TOPIC, forged)
    }
    // then a genuine one of the attacker's own (it may announce tasks like anyone)
    const own = peerIdFromPrivateKey(evilKey).toString()
    const genuine = await signAnnouncement(evilKey, encodeSpec(madeUpSpec(own, { maxPrice: 0 })), 1, false)
    await evil.services.pubsub.publish(TASKS_TOPIC, genuine)

    const events = (fn: () => void): (() => void) => {
      const offs = mesh.daemons.map((d) => d.market.on(fn))
      return () => {
        for (const off of offs) off()
      }
    }
    await waitFor(
      () =>
        counters(victim).announcementsRejected - victimBefore.announcementsRejected >= 2 &&
        counters(bystander).announcementsAccepted > bystanderBefore.announcementsAccepted,
      [events],
      AbortSignal.timeout(20_000),
    )
    // the score is cached until gossipsub's next heartbeat (1 s): read it after two
    const pubsub = victim.node.services.pubsub
    for (let beats = 0; beats < 2; beats++) {
      await new Promise<void>((resolve) =>
        pubsub.addEventListener('gossipsub:heartbeat', () => resolve(), { once: true }),
      )
    }
    // the implementation has getScore; the exported GossipSub interface does not declare it
    const score = (pubsub as unknown as { getScore(peer: string): number }).getScore(evilId)
    t.diagnostic(
      `victim refused ${counters(victim).announcementsRejected - victimBefore.announcementsRejected}, ` +
        `bystander refused ${counters(bystander).announcementsRejected - bystanderBefore.announcementsRejected}; ` +
        `the attacker's score at the victim: ${score}`,
    )
    assert.equal(
      counters(bystander).announcementsRejected,
      bystanderBefore.announcementsRejected,
      'the forgeries were not forwarded to the bystander',
    )
    assert.ok(score < 0, `the sender's peer score fell (${score})`)
  })
})
