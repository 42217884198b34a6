import type { ComponentLogger, Logger, PrivateKey } from '@libp2p/interface'
import type { Sublevel } from '../store/index.js'
import type { Ledger } from './ledger.js'
import { type ReceiptVerdict, signReceipt } from './receipt.js'
import type { LedgerStore } from './store.js'

/** Gossip topic of settlement receipts. */
export const RECEIPTS_TOPIC = 'plusone/receipts/1'

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
  addEventListener(
    type: 'message',
    listener: (evt: CustomEvent<{ type: 'signed' | 'unsigned'; topic: string; data: Uint8Array }>) => void,
  ): void
  removeEventListener(
    type: 'message',
    listener: (evt: CustomEvent<{ type: 'signed' | 'unsigned'; topic: string; data: Uint8Array }>) => void,
  ): void
}

export interface SettlementComponents {
  privateKey: PrivateKey
  pubsub: ReceiptPubSub
  ledger: Ledger
  logger: ComponentLogger
}

export interface SettlementStats {
  published: number
  received: number
  added: number
  duplicates: number
  rejected: number
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
 * stores it in its own ledger first (so a crash right after loses nothing) and publishes it on
 * `plusone/receipts/1`. Every node verifies and stores the receipts it hears; the ledger makes
 * them idempotent, so a receipt heard twice, or replayed, counts once.
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
  }

  constructor(private readonly components: SettlementComponents) {
    this.log = components.logger.forComponent('plusone:settlement')
  }

  start(): void {
    this.components.pubsub.subscribe(RECEIPTS_TOPIC)
    this.components.pubsub.addEventListener('message', this.onMessage)
  }

  stop(): void {
    this.components.pubsub.removeEventListener('message', this.onMessage)
    this.components.pubsub.unsubscribe(RECEIPTS_TOPIC)
  }

  stats(): SettlementStats {
    return { ...this.counters }
  }

  /** Signs, stores and publishes one receipt per executor of a finished task. */
  async settle(taskId: string, jobId: string, executors: readonly ExecutorSettlement[]): Promise<void> {
    const now = Date.now()
    for (const e of executors) {
      const bytes = await signReceipt(this.components.privateKey, {
        taskId,
        jobId,
        executor: e.peer,
        verdict: e.verdict,
        fuelUsed: e.fuelUsed,
        pricePerGfuel: e.pricePerGfuel,
        timestampMs: now,
        sequence: this.sequence++,
      })
      await this.components.ledger.add(bytes)
      try {
        await this.components.pubsub.publish(RECEIPTS_TOPIC, bytes)
        this.counters.published++
      } catch (err) {
        // stored locally already; peers that missed it can still be told later
        this.log('could not publish a receipt for %s: %s', taskId, (err as Error).message)
      }
    }
  }

  private readonly onMessage = (
    evt: CustomEvent<{ type: 'signed' | 'unsigned'; topic: string; data: Uint8Array }>,
  ): void => {
    const msg = evt.detail
    if (msg.topic !== RECEIPTS_TOPIC) return
    this.counters.received++
    if (msg.type !== 'signed') {
      this.counters.rejected++
      return
    }
    this.components.ledger.add(msg.data).then(
      (r) => {
        if (r.outcome === 'duplicate' || r.outcome === 'kept') this.counters.duplicates++
        else this.counters.added++
      },
      (err: Error) => {
        this.counters.rejected++
        this.log('rejected a receipt: %s', err.message)
      },
    )
  }
}
