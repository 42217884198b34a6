/**
 * Receipts gossiped one batch per settled task (issue 12): the batch limits, a ledger that checks
 * every receipt of a batch before storing any, the settlement service's one message per task, and
 * on a live mesh a k=3 task's three receipts in one message, landing in the ledger of every node
 * that should hold them.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { defaultLogger } from '@libp2p/logger'
import { type TopicValidatorFn, TopicValidatorResult } from '@libp2p/gossipsub'
import {
  decodeReceiptBatch,
  encodeReceiptBatch,
  groupReceipts,
  InvalidSignatureError,
  Ledger,
  MAX_RECEIPT_BATCH_BYTES,
  MAX_RECEIPTS_PER_BATCH,
  MAX_SIGNED_RECEIPT_BYTES,
  MemoryLedgerStore,
  RECEIPT_BATCH_WINDOW_MS,
  RECEIPTS_TOPIC,
  SettlementService,
  signReceipt,
  verifyReceipt,
} from '../../src/ledger/index.js'
import type { ReceiptPubSub } from '../../src/ledger/settlement.js'
import { TASKS_TOPIC } from '../../src/market/index.js'
import { ReceiptBatch } from '../../src/pb/ledger.js'
import { enc, example } from '../market/helpers.js'
import { createMesh, eventually, fullyConnect, type Mesh } from '../mesh.js'
import { draft, peers, SignedReceipt, type TestPeer } from './helpers.js'

const bytesOf = (n: number, fill: number): Uint8Array<ArrayBuffer> => new Uint8Array(n).fill(fill)

describe('receipt batches', () => {
  let p: TestPeer[]
  before(async () => {
    p = await peers(5)
  })

  it('groups receipts in order into as few batches as the count and byte limits allow', () => {
    const small = Array.from({ length: 70 }, (_, i) => bytesOf(300, i))
    const groups = groupReceipts(small)
    assert.deepEqual(
      groups.map((g) => g.length),
      [MAX_RECEIPTS_PER_BATCH, MAX_RECEIPTS_PER_BATCH, 70 - 2 * MAX_RECEIPTS_PER_BATCH],
    )
    assert.deepEqual(groups.flat(), small, 'every receipt once, in order')
    const large = Array.from({ length: 30 }, (_, i) => bytesOf(MAX_SIGNED_RECEIPT_BYTES, i))
    const big = groupReceipts(large)
    assert.ok(big.length > 1, 'the byte limit splits before the count limit')
    for (const g of big) assert.ok(encodeReceiptBatch(g).byteLength <= MAX_RECEIPT_BATCH_BYTES)
    assert.deepEqual(big.flat(), large)
    assert.deepEqual(groupReceipts([]), [])
  })

  it('decodes what it encodes and refuses empty, oversized, overfull and garbled batches', () => {
    const receipts = [bytesOf(200, 1), bytesOf(250, 2)]
    assert.deepEqual(decodeReceiptBatch(encodeReceiptBatch(receipts)), receipts)
    assert.throws(() => decodeReceiptBatch(encodeReceiptBatch([])), { name: 'MalformedReceiptError' })
    const overfull = ReceiptBatch.encode({
      receipts: Array.from({ length: MAX_RECEIPTS_PER_BATCH + 1 }, () => bytesOf(10, 3)),
    })
    assert.throws(() => decodeReceiptBatch(overfull), { name: 'MalformedReceiptError' })
    assert.throws(() => decodeReceiptBatch(bytesOf(MAX_RECEIPT_BATCH_BYTES + 1, 0)), {
      name: 'MalformedReceiptError',
    })
    assert.throws(() => decodeReceiptBatch(Uint8Array.from([0x0a, 0xff, 0xff, 0x01])), {
      name: 'MalformedReceiptError',
    })
    assert.throws(() => decodeReceiptBatch(encodeReceiptBatch([bytesOf(MAX_SIGNED_RECEIPT_BYTES + 1, 4)])), {
      name: 'OversizeReceiptError',
    })
  })

  it('a ledger stores a whole valid batch, and nothing of a batch with one bad signature', async () => {
    const ledger = await Ledger.open({ store: new MemoryLedgerStore() })
    const good = await Promise.all(
      [1, 2, 3].map((i) => signReceipt(p[0].key, draft(p[i].id, { taskId: 'bafybatch', sequence: i }))),
    )
    const outcomes = await ledger.addAll(good)
    assert.deepEqual(
      outcomes.map((o) => o.outcome),
      ['added', 'added', 'added'],
    )
    assert.deepEqual(
      (await ledger.addAll(good)).map((o) => o.outcome),
      ['duplicate', 'duplicate', 'duplicate'],
    )

    const other = await Ledger.open({ store: new MemoryLedgerStore() })
    const valid = await signReceipt(p[0].key, draft(p[1].id, { taskId: 'bafyother' }))
    const tampered = SignedReceipt.decode(
      (await signReceipt(p[0].key, draft(p[2].id, { taskId: 'bafyother' }))).slice(),
    )
    tampered.signature[0] ^= 0xff
    await assert.rejects(other.addAll([valid, SignedReceipt.encode(tampered)]), {
      name: InvalidSignatureError.name,
    })
    assert.equal(other.account(p[1].id).earned, 0n, 'the valid receipt of a rejected batch is not stored')
    let stored = 0
    for await (const _ of other.receipts()) stored++
    assert.equal(stored, 0)
  })
})

/** A pubsub that records what is published and exposes the topic validator gossipsub would run. */
class RecordingPubSub implements ReceiptPubSub {
  readonly published: Array<{ topic: string; data: Uint8Array }> = []
  #waiting: Array<() => void> = []
  readonly topicValidators = new Map<string, TopicValidatorFn>()
  subscribe(): void {}
  unsubscribe(): void {}
  async publish(topic: string, data: Uint8Array): Promise<unknown> {
    this.published.push({ topic, data })
    for (const resolve of this.#waiting.splice(0)) resolve()
    return {}
  }

  /** Resolves at the next publication. */
  nextPublish(): Promise<void> {
    return new Promise((resolve) => this.#waiting.push(resolve))
  }
  addEventListener(): void {}
  removeEventListener(): void {}

  /** Runs the receipts topic's validator on `data`, as gossipsub does for a received message. */
  validate(data: Uint8Array): Promise<TopicValidatorResult> {
    const validator = this.topicValidators.get(RECEIPTS_TOPIC)
    assert.ok(validator != null, 'the settlement service installs a validator')
    type Args = Parameters<TopicValidatorFn>
    const msg = { type: 'signed', topic: RECEIPTS_TOPIC, data } as unknown as Args[1]
    return Promise.resolve(validator(undefined as unknown as Args[0], msg))
  }
}

describe('SettlementService batches', () => {
  let p: TestPeer[]
  before(async () => {
    p = await peers(5)
  })

  const service = async (who: TestPeer, batchWindowMs = RECEIPT_BATCH_WINDOW_MS) => {
    const pubsub = new RecordingPubSub()
    const ledger = await Ledger.open({ store: new MemoryLedgerStore(), self: who.id })
    const settlement = new SettlementService(
      { privateKey: who.key, pubsub, ledger, logger: defaultLogger() },
      { batchWindowMs },
    )
    settlement.start()
    return { pubsub, ledger, settlement }
  }

  it('publishes a task’s receipts in one message that an executor verifies and stores whole', async () => {
    const submitter = await service(p[0])
    const executors = [p[1], p[2], p[3]]
    const published = submitter.pubsub.nextPublish()
    await submitter.settlement.settle(
      'bafytask-k3',
      'job-k3',
      executors.map((e, i) => ({
        peer: e.id,
        verdict: i < 2 ? 'accepted' : 'rejected',
        fuelUsed: 1_000_000_000n,
        pricePerGfuel: 2_000n,
      })),
    )
    assert.equal(submitter.pubsub.published.length, 0, 'stored, waiting for the batch window')
    assert.equal(submitter.ledger.account(p[1].id).earned, 2_000n, 'in the submitter’s own ledger first')
    await published
    assert.equal(submitter.pubsub.published.length, 1, 'one gossip message for the task')
    const [msg] = submitter.pubsub.published
    assert.equal(msg.topic, RECEIPTS_TOPIC)
    const receipts = decodeReceiptBatch(msg.data)
    assert.equal(receipts.length, 3)
    const verified = await Promise.all(receipts.map((r) => verifyReceipt(r)))
    assert.deepEqual(
      verified.map((r) => [r.info.executor, r.info.verdict]),
      executors.map((e, i) => [e.id, i < 2 ? 'accepted' : 'rejected']),
    )
    assert.equal(submitter.settlement.stats().published, 3, 'stats count receipts')

    const executor = await service(p[1])
    assert.equal(await executor.pubsub.validate(msg.data), TopicValidatorResult.Accept)
    assert.equal(executor.ledger.account(p[1].id).earned, 2_000n)
    // it is party to one receipt, so it knows the submitter: the other two count as well
    assert.equal(executor.ledger.account(p[2].id).earned, 2_000n)
    assert.equal(executor.ledger.reputation(p[3].id).rejected, 1)
    assert.equal(
      await executor.pubsub.validate(msg.data),
      TopicValidatorResult.Ignore,
      'a repeat adds nothing',
    )
    assert.deepEqual(
      { ...executor.settlement.stats(), republished: 0 },
      { published: 0, received: 6, added: 3, duplicates: 3, rejected: 0, ignored: 0, republished: 0 },
    )
    submitter.settlement.stop()
    executor.settlement.stop()
  })

  it('publishes the receipts of tasks settled within one window together, and a full batch at once', async () => {
    const submitter = await service(p[0], 60_000)
    const settle = (task: string, executors: TestPeer[]) =>
      submitter.settlement.settle(
        task,
        'job-window',
        executors.map((e) => ({ peer: e.id, verdict: 'accepted', fuelUsed: 1_000n, pricePerGfuel: 1n })),
      )
    await settle('bafy-window-1', [p[1], p[2], p[3]])
    await settle('bafy-window-2', [p[2], p[3], p[4]])
    assert.equal(submitter.pubsub.published.length, 0)
    await submitter.settlement.flush()
    assert.equal(submitter.pubsub.published.length, 1)
    const tasks = await Promise.all(
      decodeReceiptBatch(submitter.pubsub.published[0].data).map(
        async (r) => (await verifyReceipt(r)).info.taskId,
      ),
    )
    assert.deepEqual(tasks, [
      'bafy-window-1',
      'bafy-window-1',
      'bafy-window-1',
      'bafy-window-2',
      'bafy-window-2',
      'bafy-window-2',
    ])
    // a batch that is full does not wait for its window
    const executors = await peers(MAX_RECEIPTS_PER_BATCH + 2)
    await settle('bafy-window-full', executors.slice(2))
    assert.equal(submitter.pubsub.published.length, 2)
    assert.equal(decodeReceiptBatch(submitter.pubsub.published[1].data).length, MAX_RECEIPTS_PER_BATCH)
    assert.equal(submitter.settlement.stats().published, 6 + MAX_RECEIPTS_PER_BATCH)
    submitter.settlement.stop()
  })

  it('rejects a batch with one forged receipt and stores none of it', async () => {
    const receiver = await service(p[4])
    const honest = await signReceipt(p[0].key, draft(p[4].id, { taskId: 'bafymixed' }))
    const forged = SignedReceipt.decode(
      (await signReceipt(p[1].key, draft(p[4].id, { taskId: 'bafymixed2' }))).slice(),
    )
    forged.signature[5] ^= 0x01
    const result = await receiver.pubsub.validate(encodeReceiptBatch([honest, SignedReceipt.encode(forged)]))
    assert.equal(result, TopicValidatorResult.Reject)
    assert.equal(receiver.ledger.account(p[4].id).earned, 0n)
    assert.equal(receiver.settlement.stats().rejected, 2, 'both receipts of the batch were refused')
    assert.equal(await receiver.pubsub.validate(enc('not a batch')), TopicValidatorResult.Reject)
    receiver.settlement.stop()
  })
})

describe('receipt batches on a live mesh', { timeout: 120_000 }, () => {
  let mesh: Mesh
  before(async () => {
    // node 0 submits, nodes 1–3 execute, node 4 only watches (it never deals with the submitter)
    mesh = await createMesh(1, { config: { maxTasks: 0 } })
    for (let i = 0; i < 3; i++) await mesh.add({ config: { maxTasks: 1 } })
    await mesh.add({ config: { maxTasks: 0 } })
    await fullyConnect(mesh.daemons, [TASKS_TOPIC, RECEIPTS_TOPIC])
  })
  after(async () => mesh?.stop())

  it('a k=3 task’s receipts arrive as one message and land in every ledger that should hold them', async () => {
    const [submitter, e1, e2, e3, observer] = mesh.daemons
    const executors = [e1, e2, e3]
    const messages: Uint8Array[][] = []
    const listener = (evt: CustomEvent<{ topic: string; data: Uint8Array }>): void => {
      if (evt.detail.topic === RECEIPTS_TOPIC) messages.push(decodeReceiptBatch(evt.detail.data))
    }
    observer.node.services.pubsub.addEventListener('message', listener)
    try {
      const job = await submitter.market.submitJob({
        module: example('wat/empty'),
        inputs: [{ name: 'one', bytes: enc('one') }],
        replicas: 3,
        fuel: 1_000_000,
        memoryMB: 1,
      })
      const view = await submitter.market.waitForJob(job.jobId, { signal: AbortSignal.timeout(60_000) })
      assert.equal(view.status, 'done')
      const taskId = job.tasks[0].taskId
      const ids = executors.map((d) => d.node.peerId.toString())
      const holdsAll = async (d: (typeof mesh.daemons)[number]): Promise<boolean> => {
        const held = new Set<string>()
        for await (const r of d.ledger.receipts()) if (r.info.taskId === taskId) held.add(r.info.executor)
        return ids.every((id) => held.has(id))
      }
      await eventually(
        'the submitter and every executor hold the task’s three receipts',
        async () =>
          (await Promise.all([submitter, ...executors].map(holdsAll))).every(Boolean) ? true : undefined,
        { attempts: 200, intervalMs: 50 },
      )
      await eventually(
        'the observer to hear the receipts',
        async () => (messages.length > 0 ? true : undefined),
        {
          attempts: 200,
          intervalMs: 50,
        },
      )
      assert.equal(messages.length, 1, 'one gossip message carried the task’s receipts')
      const carried = await Promise.all(messages[0].map((r) => verifyReceipt(r, submitter.network)))
      assert.deepEqual(new Set(carried.map((r) => r.info.executor)), new Set(ids))
      assert.ok(carried.every((r) => r.info.taskId === taskId && r.info.verdict === 'accepted'))
      for (const d of executors) {
        assert.equal(
          d.ledger.reputation(ids[0]).accepted,
          1,
          'every executor counts every receipt of the task',
        )
      }
      // a stranger to the submitter holds its receipts in memory and stores none (ledger/trust.ts)
      assert.equal(await holdsAll(observer), false)
      assert.equal(observer.ledger.heldReceipts, 3)
    } finally {
      observer.node.services.pubsub.removeEventListener('message', listener)
    }
  })
})
