/**
 * Attack 4 of issue 11: republish amplification. On main, each subscribe to plusone/receipts/1
 * made every node publish again up to 256 recent receipts, strangers' junk included, under new
 * message ids. Now a node publishes again only receipts it is party to (and at most once per
 * joining peer per 10 minutes): a peer that plants junk and toggles its subscription gets none of
 * it echoed back by the mesh.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { after, before, describe, it } from 'node:test'
import {
  decodeReceiptBatch,
  encodeReceiptBatch,
  RECEIPTS_TOPIC,
  signReceipt,
} from '../../src/ledger/index.js'
import { TASKS_TOPIC } from '../../src/market/index.js'
import type { PlusoneNode } from '../../src/node/index.js'
import { enc, example } from '../market/helpers.js'
import { createMesh, eventually, fullyConnect, type Mesh } from '../mesh.js'
import { attacker } from './helpers.js'

const JUNK = 50

describe('hostile: republish amplification', () => {
  let mesh: Mesh
  let evil: PlusoneNode
  before(async () => {
    mesh = await createMesh(1, { config: { maxTasks: 0 } })
    await mesh.add({ config: { maxTasks: 1 } })
    await fullyConnect(mesh.daemons, [TASKS_TOPIC, RECEIPTS_TOPIC])
    evil = await attacker(mesh.daemons, [RECEIPTS_TOPIC])
  })
  after(async () => {
    await evil?.stop()
    await mesh?.stop()
  })

  it('a peer toggling its subscription gets no stranger’s receipt echoed back', async (t) => {
    const [submitter, executor] = mesh.daemons
    // one honest task, so both nodes hold a receipt they are party to
    const job = await submitter.market.submitJob({
      module: example('primes'),
      inputs: [{ name: 'r', bytes: enc('0 1000') }],
      replicas: 1,
      fuel: 50_000_000,
      memoryMB: 16,
    })
    assert.equal(
      (await submitter.market.waitForJob(job.jobId, { signal: AbortSignal.timeout(30_000) })).status,
      'done',
    )
    await eventually('the executor holds its receipt', async () =>
      executor.settlement.stats().added > 0 ? true : undefined,
    )
    const junk = new Set<string>()
    for (let i = 0; i < JUNK; i++) {
      const bytes = await signReceipt(await generateKeyPair('Ed25519'), {
        taskId: `bafyjunk${i}`,
        jobId: 'junk',
        executor: evil.peerId.toString(),
        verdict: 'accepted',
        fuelUsed: 1_000_000_000n,
        pricePerGfuel: 1n,
        timestampMs: Date.now(),
        sequence: i,
      })
      junk.add(Buffer.from(bytes).toString('base64'))
      await evil.services.pubsub.publish(RECEIPTS_TOPIC, encodeReceiptBatch([bytes]))
    }
    await eventually('the mesh to hear the junk', async () =>
      mesh.daemons.every((d) => d.settlement.stats().received >= JUNK) ? true : undefined,
    )
    let echoed = 0
    let heard = 0
    evil.services.pubsub.addEventListener('message', (evt) => {
      if (evt.detail.topic !== RECEIPTS_TOPIC) return
      for (const r of decodeReceiptBatch(evt.detail.data)) {
        heard++
        if (junk.has(Buffer.from(r).toString('base64'))) echoed++
      }
    })
    const [first, second] = mesh.daemons
    const republishedBefore = [first, second].map((d) => d.settlement.stats().republished)
    evil.services.pubsub.unsubscribe(RECEIPTS_TOPIC)
    evil.services.pubsub.subscribe(RECEIPTS_TOPIC)
    // the toggle alone triggers nothing (this peer joined minutes ago, as far as the limit goes);
    // an honest newcomer's join does, and the attacker hears that re-publication too
    await mesh.add({ config: { maxTasks: 0 } })
    await eventually(
      'both nodes to publish again for the newcomer',
      async () =>
        [first, second].every((d, i) => d.settlement.stats().republished > republishedBefore[i])
          ? true
          : undefined,
      { attempts: 80, intervalMs: 250 },
    )
    const republished = [first, second].reduce(
      (n, d, i) => n + d.settlement.stats().republished - republishedBefore[i],
      0,
    )
    t.diagnostic(
      `a subscription toggle and a newcomer: the mesh published ${republished} receipts again; ` +
        `${echoed} of the ${JUNK} junk receipts echoed back (${heard} heard)`,
    )
    assert.equal(echoed, 0, 'no stranger’s receipt is published again')
    assert.ok(republished <= 2, 'only the receipts each node is party to')
  })
})
