/**
 * The vocabulary of the submitter's task machine (task-machine.ts): the events its shell feeds in
 * and the effects it asks the shell to carry out. Plain data only, so a test can write them down,
 * compare them and replay them.
 */
import type { Capacity } from '../capacity/index.js'
import type { ExecutorVerdict, QuorumEvent, QuorumInit } from '../verification/index.js'
import type { AwardRecord, TaskRecord } from './journal.js'
import type { Claim } from './spec.js'
import type { MarketEvent, RankedBid } from './types.js'

/** A bid as the machine holds it: the shell's handle for the reply, and what ranking needs. */
export interface HeldBid extends RankedBid {
  /** The shell's id for this bid's pending reply. */
  bidId: number
  /** The announcement round the bid answers. */
  round?: number
}

/** An `auto` task's plan, as AutoReplication makes it (the randomness lives in the shell). */
export interface TaskPlan {
  quorum: QuorumInit
  onlyExecutor?: string
  spotCheck: boolean
}

/** A timer the machine asked for; its event comes back with the same `at`. */
export type TimerKey = { kind: 'window' } | { kind: 'deadline'; peer: string }

/** Everything that happens to a task. Every event carries the time it is handled at. */
export type TaskEvent =
  /** A new task: announce it (a fixed-replica task asks its quorum for the first awards). */
  | { type: 'start'; now: number }
  /** A task rebuilt from the journal: carry on (restart deadlines, re-check, re-announce). */
  | { type: 'resume'; now: number }
  /** A bid arrived; its reply is an effect, now or when the window closes. */
  | { type: 'bid'; now: number; bid: HeldBid }
  /** A timer set by a `setTimer` effect fired. */
  | { type: 'timer'; now: number; timer: TimerKey; at: number }
  /** The plan the shell made for an `auto` task after a `plan` effect. */
  | { type: 'planned'; now: number; plan: TaskPlan }
  /** A claim whose signature the shell verified; `signed` is journaled as received. */
  | { type: 'claim'; now: number; requestId: number; claim: Claim; signed: Uint8Array }
  /** The outcome of a `fetchOutput` effect. */
  | { type: 'outputChecked'; now: number; peer: string; outcome: 'ok' | 'mismatch' | 'unavailable' }
  /** The user withdraws the task. */
  | { type: 'cancel'; now: number }
  /** Periodic duties (re-announce, stuck, give up, expire); `known` explains a stuck task. */
  | { type: 'tick'; now: number; known: readonly Capacity[] }

/** A write to the journal (journal.ts); the shell completes it before the next effect. */
export type JournalEntry =
  | { kind: 'task'; record: TaskRecord }
  | { kind: 'event'; seq: number; event: QuorumEvent }
  | { kind: 'award'; award: AwardRecord }
  | { kind: 'claim'; peer: string; signed: Uint8Array }

/** What one executor of a settled task is owed, before the ledger turns it into a receipt. */
export interface SettledExecutor {
  peer: string
  verdict: ExecutorVerdict['verdict']
  /** Fuel its claim reported (0 without a claim). */
  claimedFuel: number
  /** Its winning bid, or the task's max price for an award journaled before award terms existed. */
  price: number
}

/** What the machine asks of its shell, in the order given. */
export type TaskEffect =
  | { type: 'journal'; entry: JournalEntry }
  | { type: 'reply'; bidId: number; award?: { deadlineAt: number }; decline?: string }
  | { type: 'ack'; requestId: number; ok: boolean; reason: string }
  | { type: 'publish'; round: number; cancelled: boolean }
  | { type: 'setTimer'; timer: TimerKey; at: number }
  | { type: 'clearTimer'; timer: TimerKey }
  | { type: 'fetchOutput'; peer: string; claim: Claim }
  /** Make an `auto` task's plan from its best bidder, and feed it back as a `planned` event. */
  | { type: 'plan'; bestBidder: string }
  /** Sign the receipts, then journal the task as settled; `replicas` is the count in force. */
  | { type: 'settle'; executors: SettledExecutor[]; verdicts: readonly ExecutorVerdict[]; replicas: number }
  | { type: 'emit'; event: MarketEvent }
  /** The task reached done, failed or cancelled (its record is journaled already). */
  | { type: 'finished'; record: TaskRecord }
  /** Every verdict is in: the task needs no more events (late claims are refused). */
  | { type: 'forget' }
  | { type: 'log'; message: string }

export function timerName(t: TimerKey): string {
  return t.kind === 'window' ? 'window' : `deadline:${t.peer}`
}
