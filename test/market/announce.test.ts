import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { blobCidOf } from '../../src/blobs/index.js'
import {
  encodeSpec,
  type MarketEvent,
  signAnnouncement,
  TASKS_TOPIC,
  type TaskSpec,
  taskIdOf,
} from '../../src/market/index.js'
import { Announcement } from '../../src/pb/market.js'
import { type Mesh, enc, nextEvent, startMesh } from './helpers.js'

type AnnouncementEvent = Extract<MarketEvent, { type: 'announcement' }>
const isAnnouncement = (e: MarketEvent): e is AnnouncementEvent => e.type === 'announcement'

describe('market: announcements', () => {
  let mesh: Mesh
  before(async () => {
    mesh = await startMesh([{ executor: { enabled: false } }, { executor: { maxTasks: 1 } }])
  })
  after(async () => mesh?.stop())

  function spec(over: Partial<TaskSpec> = {}): TaskSpec {
    const now = Date.now()
    return {
      moduleCid: blobCidOf(enc('module')),
      inputCid: blobCidOf(enc('input')),
      fuel: 1000,
      // more memory than the receiver offers: a valid announcement must never lead to a bid here
      memoryBytes: 64 * 1024 * 1024 * 1024,
      maxOutputBytes: 1024,
      replicas: 3,
      deadlineMs: 1000,
      maxPrice: 10,
      jobId: 'j',
      nonce: randomBytes(16),
      submitter: mesh.nodes[0].id,
      createdAt: now,
      expiresAt: now + 60_000,
      ...over,
    }
  }

  /** Publishes from node 0 and returns what node 1's market made of it. */
  async function deliver(bytes: Uint8Array): Promise<AnnouncementEvent> {
    const seen = nextEvent(mesh.nodes[1].market, isAnnouncement, AbortSignal.timeout(5_000))
    await mesh.nodes[0].node.services.pubsub.publish(TASKS_TOPIC, bytes)
    return seen
  }

  it('accepts a signed announcement once, then ignores its duplicate and replays of older rounds', async () => {
    const key = mesh.nodes[0].key
    const bytes = encodeSpec(spec())
    const taskId = taskIdOf(bytes).toString()
    const first = await deliver(await signAnnouncement(key, bytes, 1))
    assert.deepEqual(first, { type: 'announcement', taskId, accepted: true })
    const again = await deliver(await signAnnouncement(key, bytes, 1))
    assert.equal(again.accepted, false)
    assert.equal(again.reason, 'duplicate')
    assert.equal((await deliver(await signAnnouncement(key, bytes, 3))).accepted, true)
    const replay = await deliver(await signAnnouncement(key, bytes, 2))
    assert.equal(replay.accepted, false)
    assert.equal(replay.reason, 'replay')
  })

  it('ignores unsigned, oversize, forged and expired announcements', async () => {
    const bytes = encodeSpec(spec())
    const unsigned = await deliver(
      Announcement.encode({
        spec: new Uint8Array(bytes),
        round: 1,
        cancelled: false,
        signature: new Uint8Array(),
      }),
    )
    assert.equal(unsigned.accepted, false)
    assert.match(unsigned.reason ?? '', /unsigned/)

    const oversize = await deliver(new Uint8Array(randomBytes(5000)))
    assert.equal(oversize.accepted, false)
    assert.match(oversize.reason ?? '', /over the limit/)

    const other = await generateKeyPair('Ed25519')
    const forged = await deliver(await signAnnouncement(other, bytes, 1))
    assert.equal(forged.accepted, false)
    assert.match(forged.reason ?? '', /not by the submitter/)

    const now = Date.now()
    const old = encodeSpec(spec({ createdAt: now - 2000, expiresAt: now - 1000 }))
    const expired = await deliver(await signAnnouncement(mesh.nodes[0].key, old, 1))
    assert.equal(expired.accepted, false)
    assert.match(expired.reason ?? '', /expired/)

    const garbage = await deliver(enc('not a protobuf at all'))
    assert.equal(garbage.accepted, false)
    assert.equal(mesh.nodes[1].market.stats().bidsSent, 0, 'nothing refused or unrunnable was bid on')
  })
})
