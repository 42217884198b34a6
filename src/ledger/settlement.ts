import { type TopicValidatorFn, TopicValidatorResult } from '@libp2p/gossipsub'
import type { ComponentLogger, Logger, PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { NetworkId } from '../network/index.js'
import type { Sublevel } from '../store/index.js'
import { decodeReceiptBatch, encodeReceiptBatch, groupReceipts, MAX_RECEIPTS_PER_BATCH } from './batch.js'
import type { AddResult, Ledger } from './ledger.js'
import { type ReceiptVerdict, receiptId, signReceipt } from './receipt.js'
import type { LedgerStore } from './store.js'

/**
 * Gossip topic of settlement receipts: each message is a batch (batch.ts) of receipts.
 * Version 1 carried one receipt per message.
 */
export const RECEIPTS_TOPIC = 'plusone/receipts/2'
/**
 * Receipts signed within this window are published together: one gossip message for every task
 * settled in it (at most MAX_RECEIPTS_PER_BATCH receipts; a full batch goes out at once). Each
 * message costs every node of the mesh a signature check and every mesh link a copy; receipts
 * are not on any task's critical path (the task is done before it is settled).
 */
export const RECEIPT_BATCH_WINDOW_MS = 200
/** Recent receipts (own and heard) kept to publish again when peers (re)join the topic. */
export const REPUBLISH_MAX_RECEIPTS = 256
/** How old a receipt may be and still be published again. */
export const REPUBLISH_WINDOW_MS = 10 * 60_000
/** A burst of joins (a healed partition, a restart) publishes the recent receipts once, this much later. */
export const REPUBLISH_DELAY_MS = 1_000
/** At most one re-publication this often, however much the mesh churns. */
export const REPUBLISH_MIN_INTERVAL_MS = 10_000
/**
 * A peer that toggles its subscription (unsubscribe, subscribe, on a live connection) triggers a
 * re-publication at most this often: it cannot make the mesh repeat itself (issue 11, attack 4).
 * A peer that reconnects — a restart, a healed partition — is served again at once.
 */
export const REPUBLISH_PER_PEER_MS = 10 * 60_000
/** Joining peers remembered for {@link REPUBLISH_PER_PEER_MS}; the oldest are forgotten first. */
export const REPUBLISH_MAX_TRACKED_PEERS = 4096

/** One executor's part in a finished task, as the submitter settles it. */
export interface ExecutorSettlement {
  peer: string
  verdict: ReceiptVerdict
  fuelUsed: bigint
  /** Micro-credits per Gfuel: the executor's winning bid. */
  pricePerGfuel: bigint
}

export interface ReceiptPubSub {
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  publish(topic: string, data: Uint8Array): Promise<unknown>
  addEventListener(type: 'message', listener: (evt: CustomEvent<ReceiptMessage>) => void): void
  addEventListener(
    type: 'subscription-change',
    listener: (evt: CustomEvent<SubscriptionChange>) => void,
  ): void
  removeEventListener(type: 'message', listener: (evt: CustomEvent<ReceiptMessage>) => void): void
  removeEventListener(
    type: 'subscription-change',
    listener: (evt: CustomEvent<SubscriptionChange>) => void,
  ): void
  /**
   * gossipsub's validators: when present, receipts are checked before gossipsub forwards them,
   * so invalid ones are rejected (and their sender's score penalised) and duplicates and
   * strangers' receipts beyond their share are not forwarded.
   */
  topicValidators?: Map<string, TopicValidatorFn>
}

/** A gossip message as the settlement service reads it. */
export interface ReceiptMessage {
  type: 'signed' | 'unsigned'
  topic: string
  data: Uint8Array
}

/** A peer's (un)subscriptions, as gossipsub reports them. */
export interface SubscriptionChange {
  peerId: PeerId
  subscriptions: Array<{ topic: string; subscribe: boolean }>
}

export interface SettlementComponents {
  privateKey: PrivateKey
  /** The network receipts are signed for (network/index.ts). @default PUBLIC_NETWORK */
  network?: NetworkId
  pubsub: ReceiptPubSub
  ledger: Ledger
  logger: ComponentLogger
}

/** Counts of receipts (not of gossip messages: one message carries a batch of them). */
export interface SettlementInit {
  /** How long signed receipts wait for others to share their gossip message. @default RECEIPT_BATCH_WINDOW_MS */
  batchWindowMs?: number
}

export interface SettlementStats {
  published: number
  received: number
  added: number
  duplicates: number
  rejected: number
  /** Strangers' receipts: held in memory (not counted) or dropped (see ledger/trust.ts). */
  ignored: number
  /** Receipts this node is party to, published again for peers that (re)joined the topic. */
  republished: number
}

/** Adapts a level sublevel to the ledger's narrow store interface. */
export function levelLedgerStore(db: Sublevel): LedgerStore {
  return {
    get: async (key) => (await db.get(key)) ?? undefined,
    put: (key, value) => db.put(key, value),
    async *iterate(prefix) {
      for await (const [k, v] of db.iterator({ gte: prefix, lt: `${prefix}\uffff` })) yield [k, v]
    },
  }
}

/**
 * Settlement over gossip: the submitter signs a receipt for every executor of a finished task,
 * stores them in its own ledger first (so a crash right after loses nothing) and publishes them
 * on {@link RECEIPTS_TOPIC}, one batch for every task settled within {@link RECEIPT_BATCH_WINDOW_MS}. Every node verifies and stores the
 * receipts it hears; the ledger makes them idempotent, so a receipt heard twice, or replayed,
 * counts once.
 */
export class SettlementService {
  private readonly log: Logger
  private sequence = 0
  private readonly counters: SettlementStats = {
    published: 0,
    received: 0,
    added: 0,
    duplicates: 0,
    rejected: 0,
    ignored: 0,
    republished: 0,
  }
  /**
   * Receipts this node is party to, oldest first, for peers that missed them (see
   * {@link onSubscriptionChange}).
   */
  private readonly recent: Array<{ at: number; bytes: Uint8Array }> = []
  private republishTimer?: NodeJS.Timeout
  private lastRepublishAt = Number.NEGATIVE_INFINITY
  /** Joining peer → when it last triggered a re-publication. */
  private readonly joins = new Map<string, number>()
  /** Peers that unsubscribed on a live connection since their last join. */
  private readonly toggled = new Set<string>()
  private readonly self: string
  /** Signed and stored, waiting for the batch window to close (see {@link RECEIPT_BATCH_WINDOW_MS}). */
  private pending: Uint8Array[] = []
  private flushTimer?: NodeJS.Timeout
  private readonly batchWindowMs: number

  constructor(
    private readonly components: SettlementComponents,
    init: SettlementInit = {},
  ) {
    this.log = components.logger.forComponent('plusone:settlement')
    this.self = peerIdFromPrivateKey(components.privateKey).toString()
    this.batchWindowMs = init.batchWindowMs ?? RECEIPT_BATCH_WINDOW_MS
  }

  start(): void {
    this.components.pubsub.subscribe(RECEIPTS_TOPIC)
    this.components.pubsub.topicValidators?.set(RECEIPTS_TOPIC, (_peer, msg) => this.validate(msg))
    this.components.pubsub.addEventListener('message', this.onMessage)
    this.components.pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    this.loadRecent().catch((err: Error) => this.log('could not load recent receipts: %s', err.message))
  }

  stop(): void {
    // what waits for its window goes out now (stored already: a failed publication loses nothing)
    void this.flush()
    clearTimeout(this.republishTimer)
    this.republishTimer = undefined
    this.components.pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    this.components.pubsub.removeEventListener('message', this.onMessage)
    this.components.pubsub.topicValidators?.delete(RECEIPTS_TOPIC)
    this.components.pubsub.unsubscribe(RECEIPTS_TOPIC)
  }

  /**
   * After a restart: the receipts this node holds from the last few minutes, so that one stored
   * just before a crash, and never published, still reaches its executor.
   */
  private async loadRecent(): Promise<void> {
    const cutoff = Date.now() - REPUBLISH_WINDOW_MS
    const found: Array<{ at: number; bytes: Uint8Array }> = []
    for await (const r of this.components.ledger.receipts()) {
      if (r.info.timestampMs < cutoff) continue
      if (r.info.submitter !== this.self && r.info.executor !== this.self) continue
      found.push({ at: r.info.timestampMs, bytes: r.bytes })
    }
    found.sort((a, b) => a.at - b.at)
    this.recent.unshift(...found.slice(-REPUBLISH_MAX_RECEIPTS))
    this.recent.splice(0, Math.max(0, this.recent.length - REPUBLISH_MAX_RECEIPTS))
  }

  private remember(bytes: Uint8Array): void {
    this.recent.push({ at: Date.now(), bytes })
    if (this.recent.length > REPUBLISH_MAX_RECEIPTS) this.recent.shift()
  }

  /**
   * Gossip reaches only the peers connected when a receipt is published: a peer that joins the
   * topic later — a newcomer, a restarted node, the other side of a healed partition — would never
   * hear it. So when a peer subscribes, this node publishes again the recent receipts it is party
   * to (it signed them, or they pay it: after a healed partition the submitter itself may not be
   * connected to the newcomers, but its executors are) — never strangers' receipts, once per burst
   * of joins, and at most once per {@link REPUBLISH_PER_PEER_MS} for a peer that toggles; the
   * ledger counts each receipt once however often it arrives.
   */
  private readonly onSubscriptionChange = (evt: CustomEvent<SubscriptionChange>): void => {
    const change = evt.detail.subscriptions.find((s) => s.topic === RECEIPTS_TOPIC)
    if (change == null) return
    const peer = evt.detail.peerId.toString()
    const now = Date.now()
    if (!change.subscribe) {
      // an explicit unsubscribe on a live connection: its next subscribe is a toggle
      this.toggled.add(peer)
      if (this.toggled.size > REPUBLISH_MAX_TRACKED_PEERS)
        this.toggled.delete(this.toggled.values().next().value ?? '')
      return
    }
    // a peer that reconnects (a restart, a healed partition) is served again; one that toggles its
    // subscription on a live connection is served at most once per REPUBLISH_PER_PEER_MS
    const toggled = this.toggled.delete(peer)
    const last = this.joins.get(peer)
    if (toggled && last !== undefined && now - last < REPUBLISH_PER_PEER_MS) return
    this.joins.delete(peer)
    this.joins.set(peer, now)
    if (this.joins.size > REPUBLISH_MAX_TRACKED_PEERS) {
      const oldest = this.joins.keys().next().value
      if (oldest !== undefined) this.joins.delete(oldest)
    }
    if (this.republishTimer !== undefined || this.recent.length === 0) return
    const delayMs = Math.max(REPUBLISH_DELAY_MS, this.lastRepublishAt + REPUBLISH_MIN_INTERVAL_MS - now)
    this.republishTimer = setTimeout(() => {
      this.republishTimer = undefined
      this.lastRepublishAt = Date.now()
      void this.republish()
    }, delayMs)
  }

  private async republish(): Promise<void> {
    const cutoff = Date.now() - REPUBLISH_WINDOW_MS
    while (this.recent.length > 0 && this.recent[0].at < cutoff) this.recent.shift()
    this.counters.republished += await this.publish(this.recent.map((r) => r.bytes))
  }

  /** Publishes signed receipts in as few batches as the limits allow; resolves with how many went out. */
  private async publish(receipts: readonly Uint8Array[]): Promise<number> {
    let sent = 0
    for (const group of groupReceipts(receipts)) {
      try {
        await this.components.pubsub.publish(RECEIPTS_TOPIC, encodeReceiptBatch(group))
        sent += group.length
      } catch (err) {
        // stored locally already; peers that missed them are told when they (re)join
        this.log('could not publish %d receipt(s): %s', group.length, (err as Error).message)
      }
    }
    return sent
  }

  stats(): SettlementStats {
    return { ...this.counters }
  }

  /**
   * The market's `onSettled` hook: a settled task as the market reports it (fuel and price as
   * numbers, price in micro-credits per Gfuel) turned into {@link settle}'s receipts.
   */
  settleTask(s: {
    taskId: string
    jobId: string
    executors: ReadonlyArray<{
      peer: string
      verdict: ExecutorSettlement['verdict']
      fuelUsed: number
      price: number
    }>
  }): Promise<void> {
    return this.settle(
      s.taskId,
      s.jobId,
      s.executors.map((e) => ({
        peer: e.peer,
        verdict: e.verdict,
        fuelUsed: BigInt(e.fuelUsed),
        pricePerGfuel: BigInt(e.price),
      })),
    )
  }

  /**
   * Signs and stores one receipt per executor of a finished task; resolves once they are stored.
   * They are published within {@link RECEIPT_BATCH_WINDOW_MS}, in one gossip message with those of
   * every other task settled meanwhile (at once when that fills a batch).
   */
  async settle(taskId: string, jobId: string, executors: readonly ExecutorSettlement[]): Promise<void> {
    const now = Date.now()
    const signed: Uint8Array[] = []
    for (const e of executors) {
      // settling again after a crash: a receipt already signed stands (signing another would be
      // a conflicting receipt for the same task and executor)
      if (await this.components.ledger.has(receiptId(this.self, taskId, e.peer))) continue
      const bytes = await signReceipt(
        this.components.privateKey,
        {
          taskId,
          jobId,
          executor: e.peer,
          verdict: e.verdict,
          fuelUsed: e.fuelUsed,
          pricePerGfuel: e.pricePerGfuel,
          timestampMs: now,
          sequence: this.sequence++,
        },
        this.components.network,
      )
      await this.components.ledger.add(bytes)
      this.remember(bytes)
      signed.push(bytes)
    }
    await this.enqueue(signed)
  }

  /** Queues signed receipts for the current window; a full batch is published at once. */
  private async enqueue(receipts: Uint8Array[]): Promise<void> {
    if (receipts.length === 0) return
    this.pending.push(...receipts)
    if (this.pending.length >= MAX_RECEIPTS_PER_BATCH) await this.flush()
    else this.flushTimer ??= setTimeout(() => void this.flush(), this.batchWindowMs)
  }

  /** Publishes now every signed receipt still waiting for its batch window; resolves when sent. */
  async flush(): Promise<void> {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const receipts = this.pending
    this.pending = []
    this.counters.published += await this.publish(receipts)
  }

  /**
   * Checks a gossiped batch of receipts before gossipsub forwards it: a batch that does not decode
   * or holds one invalid receipt → reject, nothing of it stored (gossipsub penalises the sender);
   * a batch that brings nothing new (duplicates, conflicts this node already resolved, strangers'
   * receipts beyond their share) → ignore (not forwarded); otherwise accept. The ledger stores or
   * holds each receipt as its trust rules say.
   */
  private async validate(msg: { type: string; data?: Uint8Array }): Promise<TopicValidatorResult> {
    let results: AddResult[]
    // a batch that does not decode counts as one rejected receipt; one that does, as all it holds
    let count = 1
    try {
      if (msg.type !== 'signed' || msg.data == null) throw new Error('unsigned gossip message')
      const receipts = decodeReceiptBatch(msg.data)
      count = receipts.length
      this.counters.received += count
      results = await this.components.ledger.addAll(receipts)
    } catch (err) {
      this.counters.rejected += count
      this.log('rejected a batch of %d receipt(s): %s', count, (err as Error).message)
      return TopicValidatorResult.Reject
    }
    let accept = false
    for (const r of results) {
      switch (r.outcome) {
        case 'duplicate':
        case 'kept':
          this.counters.duplicates++
          break
        case 'dropped':
          this.counters.ignored++
          break
        case 'held':
          this.counters.ignored++
          accept = true
          break
        default: {
          this.counters.added++
          accept = true
          // relayed again when peers join, if it pays this node: the submitter may not reach them
          const { submitter, executor } = r.receipt.info
          if (submitter === this.self || executor === this.self) this.remember(r.receipt.bytes)
        }
      }
    }
    return accept ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
  }

  /** Without gossipsub validators (a bare pubsub), receipts are handled as they arrive. */
  private readonly onMessage = (evt: CustomEvent<ReceiptMessage>): void => {
    const msg = evt.detail
    if (msg.topic !== RECEIPTS_TOPIC || this.components.pubsub.topicValidators != null) return
    void this.validate(msg)
  }
}
