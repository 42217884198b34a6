import type { LedgerView } from '../client/types.js'
import type { Ledger, SettlementService } from '../ledger/index.js'
import { ApiError, type Route } from './server.js'

const MICRO = 1e6

/** What `plusone ledger --json` prints; the contract is the client's LedgerView. */
export type { LedgerView as LedgerJson } from '../client/types.js'

export function ledgerRoutes(
  ledger: Ledger,
  settlement: SettlementService,
  self: string,
  creditLimit: number,
): Route[] {
  return [
    {
      method: 'GET',
      path: '/ledger',
      handler: async (): Promise<LedgerView> => {
        const me = ledger.account(self)
        const hours = new Map<string, { credits: bigint; tasks: number }>()
        let stored = 0
        for await (const r of ledger.receipts()) {
          stored++
          if (r.info.executor !== self || r.info.verdict !== 'accepted') continue
          const hour = `${new Date(r.info.timestampMs).toISOString().slice(0, 13)}:00Z`
          const h = hours.get(hour) ?? { credits: 0n, tasks: 0 }
          h.credits += r.info.amount
          h.tasks++
          hours.set(hour, h)
        }
        const accounts = new Map(ledger.accounts().map((a) => [a.peer, a]))
        const stats = settlement.stats()
        return {
          peerId: self,
          balance: Number(me.balance) / MICRO,
          earned: Number(me.earned) / MICRO,
          spent: Number(me.spent) / MICRO,
          creditLimit,
          earnings: [...hours]
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([hour, h]) => ({ hour, credits: Number(h.credits) / MICRO, tasks: h.tasks })),
          peers: ledger
            .reputations()
            .map((r) => ({
              peerId: r.peer,
              score: r.score,
              accepted: r.accepted,
              rejected: r.rejected,
              timedOut: r.timedOut,
              submitters: r.submitters,
              balance: Number(accounts.get(r.peer)?.balance ?? 0n) / MICRO,
            }))
            .sort((a, b) => b.score - a.score || a.peerId.localeCompare(b.peerId)),
          receipts: {
            stored,
            published: stats.published,
            received: stats.received,
            rejected: stats.rejected,
          },
        }
      },
    },
    {
      method: 'GET',
      path: '/ledger/export',
      handler: async ({ query }, res) => {
        const format = query.get('format') ?? 'json'
        if (format !== 'csv' && format !== 'json') throw new ApiError(400, 'format must be csv or json')
        const text = await ledger.exportReceipts(format)
        res.writeHead(200, { 'content-type': format === 'csv' ? 'text/csv' : 'application/json' })
        res.end(text)
      },
    },
  ]
}
