/**
 * Per-peer caps on bids (issue 11, fairness under floods). An executor keeps at most
 * MAX_BIDS_IN_FLIGHT_PER_SUBMITTER bids open to one submitter, however many slots it has: on main
 * a submitter that answered one bid and then stalled held every bid slot of the executor for a
 * bid timeout each, round after round (it is never dropped: it answered once). A submitter holds
 * at most MAX_PENDING_BIDS_PER_PEER bids of one peer waiting for an answer; on main a peer could
 * keep one bid open on every live task at once.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { parseBlobCid } from '../../src/blobs/index.js'
import {
  BID_PROTOCOL,
  encodeSpec,
  MAX_BIDS_IN_FLIGHT_PER_SUBMITTER,
  MAX_PENDING_BIDS_PER_PEER,
  signAnnouncement,
  TASKS_TOPIC,
} from '../../src/market/index.js'
import type { PlusoneNode } from '../../src/node/index.js'
import { Bid, BidReply } from '../../src/pb/market.js'
import { enc, example, waitFor } from '../market/helpers.js'
import { createMesh, fullyConnect, type Mesh } from '../mesh.js'
import { attacker, madeUpSpec } from './helpers.js'

const EXECUTOR_SLOTS = 8

describe('hostile: a submitter that answers once, then holds every bid', { timeout: 60_000 }, () => {
  let mesh: Mesh
  let evil: PlusoneNode
  let evilKey: PrivateKey
  const held = new Set<Stream>()
  let received = 0
  let most = 0
  let changed: () => void = () => {}
  before(async () => {
    mesh = await createMesh(1, { config: { maxTasks: EXECUTOR_SLOTS, cpus: 1 } })
    await fullyConnect(mesh.daemons, [TASKS_TOPIC])
    evilKey = await generateKeyPair('Ed25519')
    evil = await attacker(mesh.daemons, [TASKS_TOPIC], evilKey)
    await evil.handle(
      BID_PROTOCOL,
      async (stream) => {
        received++
        if (received === 1) {
          // the first bid is answered (declined): the executor now counts it as one that answers
          const lp = lpStream(stream)
          const bid = Bid.decode((await lp.read()).subarray())
          await lp.write(
            BidReply.encode({
              taskId: bid.taskId,
              decision: BidReply.Decision.DECLINE,
              reason: 'no',
              deadlineAt: 0,
            }),
          )
          await stream.close().catch(() => {})
          changed()
          return
        }
        held.add(stream)
        most = Math.max(most, held.size)
        stream.addEventListener('close', () => held.delete(stream), { once: true })
        changed()
      },
      { maxInboundStreams: 1024 },
    )
  })
  after(async () => {
    for (const s of held) s.abort(new Error('test over'))
    await evil?.stop()
    await mesh?.stop()
  })

  it(`holds at most ${MAX_BIDS_IN_FLIGHT_PER_SUBMITTER} of the executor’s ${EXECUTOR_SLOTS} bid slots`, async (t) => {
    // later rounds: every executor bids on them, no sampling
    for (let i = 0; i < 3 * EXECUTOR_SLOTS; i++) {
      const spec = madeUpSpec(evil.peerId.toString(), {
        memoryBytes: 16 * 1024 * 1024,
        maxPrice: 1_000_000_000,
        jobId: `caps-${i}`,
      })
      await evil.services.pubsub.publish(TASKS_TOPIC, await signAnnouncement(evilKey, encodeSpec(spec), 2))
    }
    // two rounds of bids past the first: the executor's bids timed out once and it bid again
    await waitFor(
      () => received >= 2 + 2 * MAX_BIDS_IN_FLIGHT_PER_SUBMITTER,
      [
        (fn) => {
          changed = fn
          return () => {
            changed = () => {}
          }
        },
      ],
      AbortSignal.timeout(40_000),
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}: ${received} bids received, ${held.size} held; executor ${JSON.stringify(mesh.daemons[0].market.stats())}`,
      )
    })
    t.diagnostic(`bids received ${received}; most held at once ${most} of ${EXECUTOR_SLOTS} slots`)
    assert.ok(
      most <= MAX_BIDS_IN_FLIGHT_PER_SUBMITTER,
      `at most ${MAX_BIDS_IN_FLIGHT_PER_SUBMITTER} held at once, not ${most}`,
    )
  })
})

describe('hostile: an executor that bids on every task at once', { timeout: 60_000 }, () => {
  let mesh: Mesh
  let evil: PlusoneNode
  const TASKS = 2 * MAX_PENDING_BIDS_PER_PEER + 8
  before(async () => {
    // long bid windows: every bid is still waiting for its answer when the last one arrives
    mesh = await createMesh(1, { config: { maxTasks: 0 }, market: { bidWindowMaxMs: 10_000 } })
    evil = await attacker(mesh.daemons, [TASKS_TOPIC])
  })
  after(async () => {
    await evil?.stop()
    await mesh?.stop()
  })

  it(`has at most ${MAX_PENDING_BIDS_PER_PEER} of its bids held; the rest are declined at once`, async (t) => {
    const submitter = mesh.daemons[0]
    const job = await submitter.market.submitJob({
      module: example('primes'),
      inputs: Array.from({ length: TASKS }, (_, i) => ({ name: `r${i}`, bytes: enc(`0 ${i + 10}`) })),
      replicas: 1,
      memoryMB: 16,
    })
    const replies = await Promise.all(
      job.tasks.map(async (task) => {
        const stream = await evil.dialProtocol(submitter.node.peerId, BID_PROTOCOL, {
          signal: AbortSignal.timeout(20_000),
        })
        const lp = lpStream(stream)
        await lp.write(
          Bid.encode({
            taskId: parseBlobCid(task.taskId).bytes,
            round: 1,
            price: 0,
            freeSlots: 1,
            memoryMb: 64,
          }),
        )
        const reply = BidReply.decode((await lp.read({ signal: AbortSignal.timeout(20_000) })).subarray())
        await stream.close().catch(() => {})
        return reply
      }),
    )
    const capped = replies.filter((r) => r.reason === 'too many bids in flight from this peer').length
    t.diagnostic(`${TASKS} bids at once: ${TASKS - capped} held for their window, ${capped} declined at once`)
    assert.ok(capped >= TASKS - MAX_PENDING_BIDS_PER_PEER, `${capped} declined for the cap`)
    assert.ok(capped < TASKS, 'the peer still had bids heard')
    await submitter.market.cancel(job.jobId)
  })
})
