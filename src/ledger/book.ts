/**
 * Balances and reputation derived from receipts: pure, in memory, order-independent. Adding the
 * same set of receipts in any order gives the same book, so every node that saw the same receipts
 * agrees.
 */
import type { ReceiptInfo, ReceiptVerdict } from './receipt.js'

/** A peer's mutual-credit account, in micro-credits. `balance` = `earned` − `spent`. */
export interface Account {
  peer: string
  earned: bigint
  spent: bigint
  balance: bigint
}

/**
 * A peer's reputation as an executor. Each distinct submitter casts one vote: the fraction of its
 * receipts for this peer that were accepted. `score` = (1 + Σ votes) / (2 + submitters), so a
 * stranger scores 0.5, a peer paid by one friend at most 2/3 however many receipts the friend
 * signs, and rejected or timed-out results pull the score down. Receipts a peer signs for itself
 * count toward balances (netting to zero) but not toward reputation.
 */
export interface Reputation {
  peer: string
  accepted: number
  rejected: number
  timedOut: number
  /** Distinct submitters whose receipts count. */
  submitters: number
  score: number
}

interface Counts {
  accepted: number
  rejected: number
  timed_out: number
}

export class Book {
  readonly #earned = new Map<string, bigint>()
  readonly #spent = new Map<string, bigint>()
  /** executor → submitter → counts */
  readonly #votes = new Map<string, Map<string, Counts>>()

  add(r: ReceiptInfo): void {
    this.#apply(r, 1)
  }

  /** Undoes `add` of the same receipt (used when an equivocating submitter's receipt is replaced). */
  remove(r: ReceiptInfo): void {
    this.#apply(r, -1)
  }

  #apply(r: ReceiptInfo, sign: 1 | -1): void {
    if (r.amount > 0n) {
      bump(this.#earned, r.executor, BigInt(sign) * r.amount)
      bump(this.#spent, r.submitter, BigInt(sign) * r.amount)
    }
    if (r.submitter === r.executor) return
    let bySubmitter = this.#votes.get(r.executor)
    if (bySubmitter === undefined) {
      bySubmitter = new Map()
      this.#votes.set(r.executor, bySubmitter)
    }
    const c = bySubmitter.get(r.submitter) ?? { accepted: 0, rejected: 0, timed_out: 0 }
    c[r.verdict satisfies ReceiptVerdict] += sign
    if (c.accepted + c.rejected + c.timed_out === 0) bySubmitter.delete(r.submitter)
    else bySubmitter.set(r.submitter, c)
    if (bySubmitter.size === 0) this.#votes.delete(r.executor)
  }

  account(peer: string): Account {
    const earned = this.#earned.get(peer) ?? 0n
    const spent = this.#spent.get(peer) ?? 0n
    return { peer, earned, spent, balance: earned - spent }
  }

  /** Every peer with a non-zero amount earned or spent. */
  accounts(): Account[] {
    const peers = new Set([...this.#earned.keys(), ...this.#spent.keys()])
    return [...peers].sort().map((p) => this.account(p))
  }

  /**
   * Whether `submitter` may spend `cost` more without its balance going below −`creditLimit`.
   * Executors decline tasks from submitters for whom this is false.
   */
  canAfford(submitter: string, creditLimit: bigint, cost = 0n): boolean {
    return this.account(submitter).balance - cost >= -creditLimit
  }

  /** Sum of all balances; 0 by construction (every credit is someone's debit). */
  totalBalance(): bigint {
    let total = 0n
    for (const v of this.#earned.values()) total += v
    for (const v of this.#spent.values()) total -= v
    return total
  }

  reputation(peer: string): Reputation {
    const rep: Reputation = { peer, accepted: 0, rejected: 0, timedOut: 0, submitters: 0, score: 0.5 }
    const bySubmitter = this.#votes.get(peer)
    if (bySubmitter === undefined) return rep
    let votes = 0
    for (const c of bySubmitter.values()) {
      rep.accepted += c.accepted
      rep.rejected += c.rejected
      rep.timedOut += c.timed_out
      votes += c.accepted / (c.accepted + c.rejected + c.timed_out)
    }
    rep.submitters = bySubmitter.size
    rep.score = (1 + votes) / (2 + bySubmitter.size)
    return rep
  }

  /** Every executor with receipts, best first (ties by peer id, for a stable order). */
  reputations(): Reputation[] {
    return [...this.#votes.keys()]
      .map((p) => this.reputation(p))
      .sort((a, b) => b.score - a.score || (a.peer < b.peer ? -1 : 1))
  }
}

function bump(map: Map<string, bigint>, key: string, delta: bigint): void {
  const next = (map.get(key) ?? 0n) + delta
  if (next === 0n) map.delete(key)
  else map.set(key, next)
}
