/**
 * Attack 3 of issue 11: bid slots stalled for free. An attacker announces tasks with round > 1
 * (every executor bids on a later round), five a second, and never answers a bid. On main
 * executors queued first-in-first-out and waited 5 s for each reply: an honest job took 37.8 s
 * instead of 0.8 s. Now the queue is round-robin across submitters, a bid waits 2 s at most, an
 * unproven submitter gets one bid in flight, and a submitter that leaves bids unanswered is
 * dropped. The honest job finishes; the attacker's announcements are dropped.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { BID_PROTOCOL, TASKS_TOPIC } from '../../src/market/index.js'
import type { PlusoneNode } from '../../src/node/index.js'
import { enc, example } from '../market/helpers.js'
import { createMesh, fullyConnect, type Mesh } from '../mesh.js'
import { attacker, stallAnnouncement } from './helpers.js'

const TASKS = 6
/** Announcements published before the honest job, then one every 200 ms (5 a second) during it. */
const BURST = 20
const ATTACK_INTERVAL_MS = 200

describe('hostile: a submitter that never answers bids', () => {
  let mesh: Mesh
  let evil: PlusoneNode
  let evilKey: PrivateKey
  const held: Array<{ abort(err: Error): void }> = []
  before(async () => {
    mesh = await createMesh(1, { config: { maxTasks: 0 } })
    for (let i = 0; i < 3; i++) await mesh.add({ config: { maxTasks: 1 } })
    await fullyConnect(mesh.daemons, [TASKS_TOPIC])
    evilKey = await generateKeyPair('Ed25519')
    evil = await attacker(mesh.daemons, [TASKS_TOPIC], evilKey)
    // reads every bid and never answers it
    await evil.handle(
      BID_PROTOCOL,
      (stream) => {
        held.push(stream)
      },
      { maxInboundStreams: 1024 },
    )
  })
  after(async () => {
    for (const s of held) s.abort(new Error('test over'))
    await evil?.stop()
    await mesh?.stop()
  })

  let seq = 0
  async function announceJunk(): Promise<void> {
    await evil.services.pubsub.publish(
      TASKS_TOPIC,
      await stallAnnouncement(evilKey, evil.peerId.toString(), seq++),
    )
  }

  async function honestJob(): Promise<number> {
    const submitter = mesh.daemons[0]
    const started = Date.now()
    const job = await submitter.market.submitJob({
      module: example('primes'),
      inputs: Array.from({ length: TASKS }, (_, i) => ({
        name: `r${i}`,
        bytes: enc(`${i * 500} ${(i + 1) * 500}`),
      })),
      replicas: 1,
      fuel: 50_000_000,
      memoryMB: 16,
    })
    const view = await submitter.market.waitForJob(job.jobId, { signal: AbortSignal.timeout(90_000) })
    assert.equal(view.status, 'done')
    return Date.now() - started
  }

  it('an honest job still finishes, and the attacker’s announcements are dropped', async (t) => {
    const normalMs = await honestJob()
    for (let i = 0; i < BURST; i++) await announceJunk()
    const attack = setInterval(() => void announceJunk().catch(() => {}), ATTACK_INTERVAL_MS)
    let attackedMs: number
    try {
      attackedMs = await honestJob()
    } finally {
      clearInterval(attack)
    }
    const executors = mesh.daemons.slice(1)
    const stats = executors.map((d) => d.market.stats())
    const dropped = stats.reduce((n, s) => n + (s.announcementsDropped ?? 0), 0)
    const shunned = stats.reduce((n, s) => n + (s.submittersDropped ?? 0), 0)
    t.diagnostic(
      `honest job of ${TASKS} tasks: ${(normalMs / 1000).toFixed(1)} s alone, ${(attackedMs / 1000).toFixed(1)} s ` +
        `under the stall; attacker announcements dropped ${dropped}, attacker dropped by ${shunned} executor(s)`,
    )
    assert.ok(shunned >= 1, 'an executor dropped the silent submitter')
    assert.ok(dropped > 0, 'the attacker’s announcements were dropped')
  })
})
