import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { BID_PROTOCOL, type MarketEvent, TASKS_TOPIC } from '../../src/market/index.js'
import { request } from '../../src/market/wire.js'
import { Bid, BidReply } from '../../src/pb/market.js'
import { parseBlobCid } from '../../src/blobs/index.js'
import { type Mesh, enc, example, nextEvent, startMesh } from './helpers.js'

const isAccepted = (e: MarketEvent): e is Extract<MarketEvent, { type: 'announcement' }> =>
  e.type === 'announcement' && e.accepted

describe('market: bids', () => {
  let mesh: Mesh
  before(async () => {
    // node 1 bids by hand: its own executor is off
    mesh = await startMesh([{ executor: { enabled: false } }, { executor: { enabled: false } }])
  })
  after(async () => mesh?.stop())

  it("counts one peer's repeated bids once and never awards it twice (a repeat gets the same award)", {
    timeout: 30_000,
  }, async () => {
    const [submitter, bidder] = mesh.nodes
    const announced = nextEvent(bidder.market, isAccepted, AbortSignal.timeout(10_000))
    const job = await submitter.market.submitJob({
      module: example('primes'),
      inputs: [{ name: 'a', bytes: enc('0 100') }],
      replicas: 3,
      memoryMB: 16,
      deadlineMs: 20_000,
    })
    const taskId = job.tasks[0].taskId
    assert.equal((await announced).taskId, taskId)
    const bid = (): Promise<BidReply> =>
      request(
        bidder.node,
        submitter.node.peerId,
        BID_PROTOCOL,
        Bid.encode({ taskId: parseBlobCid(taskId).bytes, round: 1, price: 1, freeSlots: 1, memoryMb: 256 }),
        512,
        AbortSignal.timeout(5_000),
      ).then((b) => BidReply.decode(b))
    const replies = await Promise.all([bid(), bid(), bid()])
    const awards = replies.filter((r) => r.decision === BidReply.Decision.AWARD)
    assert.equal(awards.length, 1, JSON.stringify(replies))
    // a repeat replaces the held bid (the first one's path may be gone): the earlier ones are
    // declined as sent again, the last is the one awarded
    for (const r of replies) if (r.decision !== BidReply.Decision.AWARD) assert.equal(r.reason, 'sent again')
    // an awardee bidding again lost its award reply (a relay that died mid-reply): it gets the
    // same award back — same deadline, still one execution
    const late = await bid()
    assert.equal(late.decision, BidReply.Decision.AWARD, JSON.stringify(late))
    assert.equal(late.deadlineAt, awards[0].deadlineAt)

    const view = submitter.market.taskStatus(taskId)
    assert.equal(view.bidders, 1)
    assert.equal(view.awarded, 1)
    assert.equal(view.status, 'running')
    assert.equal(view.waiting, '1 bid, 3 replicas asked')
    assert.equal(submitter.market.jobStatus(job.jobId).waiting, '1 bid, 3 replicas asked')

    await submitter.market.cancel(job.jobId)
    assert.equal(submitter.market.jobStatus(job.jobId).status, 'cancelled')
    assert.equal(submitter.market.taskStatus(taskId).status, 'cancelled')
    const afterCancel = await bid()
    assert.equal(afterCancel.decision, BidReply.Decision.DECLINE)
  })

  it('declines bids for tasks it does not know', async () => {
    const [submitter, bidder] = mesh.nodes
    const reply = BidReply.decode(
      await request(
        bidder.node,
        submitter.node.peerId,
        BID_PROTOCOL,
        Bid.encode({
          taskId: parseBlobCid('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku').bytes,
          round: 1,
          price: 0,
          freeSlots: 1,
          memoryMb: 1,
        }),
        512,
        AbortSignal.timeout(5_000),
      ),
    )
    assert.equal(reply.decision, BidReply.Decision.DECLINE)
    assert.equal(reply.reason, 'unknown task')
    assert.ok(TASKS_TOPIC)
  })
})
