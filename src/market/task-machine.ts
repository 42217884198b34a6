/**
 * The submitter's side of one task as a pure state machine: bid windows, awards, deadlines,
 * re-announcing, output checks, cancel, expiry and settlement, with the task's QuorumTask inside.
 *
 * DETERMINISM CONTRACT — the same as verification/quorum.ts's, one level up.
 *
 * `handle(event)` returns the effects to carry out, in order, and nothing else changes the state:
 *  - no clock: every event carries `now`; timers are effects (`setTimer`) that come back as events;
 *  - no randomness: an `auto` task's plan is asked for (`plan`) and comes back as `planned`;
 *  - no I/O: journal writes, replies, publishing, output fetches and settlement are effects.
 *
 * The shell (submitter.ts) owns one machine per task and feeds it one event at a time from one
 * queue; it completes every `journal` effect before the effects after it, so the journal always
 * runs ahead of what peers see. Resume is replay: `TaskMachine.restore` rebuilds a machine from
 * the journal (task record, quorum events, claims, award terms) — the state a crash left — and a
 * `resume` event carries on from there.
 *
 * Remote input is never trusted: a bid or claim that does not fit (unknown peer, duplicate, over
 * the price, after the end) gets a decline or a refusal and changes nothing else.
 */
import {
  type ExecutorVerdict,
  type QuorumDecision,
  type QuorumEvent,
  type QuorumSnapshot,
  QuorumTask,
  selectAwardees,
} from '../verification/index.js'
import { explainSupply, explainWaiting, formatSeconds } from './explain.js'
import type { AwardRecord, TaskRecord } from './journal.js'
import { AUTO_REPLICAS, type Claim, type TaskSpec } from './spec.js'
import type { HeldBid, JournalEntry, TaskEffect, TaskEvent, TaskPlan, TimerKey } from './task-events.js'
import type { RankedBid } from './types.js'
import type { Capacity } from '../capacity/index.js'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'

/** Bids held open per task while its window is open; more are declined at once. */
export const MAX_PENDING_BIDS = 64
/** Distinct bidders counted per task (for explanations). */
export const MAX_BIDDERS_COUNTED = 256
/** Extra time after an executor's deadline before the submitter counts it missed. */
export const DEADLINE_GRACE_MS = 500
/** Longest wait between re-announcements of a task short of executors. */
export const MAX_REANNOUNCE_MS = 10_000

export interface TaskMachineSettings {
  /** A bid window closes at the latest this long after its first bid. */
  bidWindowMaxMs: number
  /** Once enough bids are in, the window still waits this long for better ones. */
  bidWindowMinMs: number
  giveUpAfterMs: number
  stuckAfterMs: number
  reannounceMs: number
  /** Replicas of an `auto` task that is not single-replica. */
  autoReplicas: number
  /** Ranks bids best first; must be a function of the bids only. */
  rank: (bids: readonly RankedBid[]) => RankedBid[]
  /** Awards per network prefix per task; undefined: no cap (private swarm). */
  maxAwardsPerPrefix: number | undefined
}

/** What the journal holds of a task, for `restore`. */
export interface JournaledTask {
  /** Quorum events in the order they were applied. */
  events: readonly QuorumEvent[]
  /** Claims whose signatures checked out, by executor. */
  claims: ReadonlyMap<string, Claim>
  awards: readonly AwardRecord[]
}

/** A read-only view for the API, explanations and tests. */
export interface TaskView {
  record: Readonly<TaskRecord>
  quorum: QuorumSnapshot
  /** Awards still wanted. */
  need: number
  awardees: ReadonlyArray<{ peer: string; price?: number }>
  claims: number
  bidders: number
  pendingBids: number
  firstAnnouncedAt: number
  terminal: boolean
}

export function defaultRank(bids: readonly RankedBid[]): RankedBid[] {
  return [...bids].sort((a, b) => a.price - b.price || a.latencyMs - b.latencyMs)
}

const WINDOW: TimerKey = { kind: 'window' }

export class TaskMachine {
  readonly spec: TaskSpec
  readonly #settings: TaskMachineSettings
  #record: TaskRecord
  #quorum: QuorumTask
  /** An `auto` task whose plan is not made yet: its quorum is not started. */
  #unplanned: boolean
  /** A `plan` effect is out; bids wait for the `planned` event. */
  #planning = false
  #seq = 0
  #need = 0
  #now: number
  #effects: TaskEffect[] = []
  readonly #awardees: Array<{
    peer: string
    address?: string
    price?: number
    /** Deadline and round of an award made by this machine (not replayed from the journal). */
    deadlineAt?: number
    round?: number
  }> = []
  #pending: HeldBid[] = []
  #windowOpenedAt: number | undefined
  #windowAt: number | undefined
  readonly #deadlines = new Set<string>()
  readonly #claims = new Map<string, Claim>()
  readonly #bidders = new Set<string>()
  #fetching: string | undefined
  #announcedAt: number
  #firstAnnouncedAt: number
  #nextAnnounceAt: number
  #reannounceMs: number
  #stuckEmitted = false

  constructor(record: TaskRecord, spec: TaskSpec, settings: TaskMachineSettings, now: number) {
    this.#record = { ...record }
    this.spec = spec
    this.#settings = settings
    this.#now = now
    this.#unplanned = spec.replicas === AUTO_REPLICAS && record.plan === undefined
    this.#quorum = new QuorumTask(
      spec.replicas !== AUTO_REPLICAS
        ? { replicas: spec.replicas }
        : (record.plan?.quorum ?? { replicas: settings.autoReplicas }),
    )
    // an unplanned auto task collects bids as if replicated: its plan may need that many
    this.#need = this.#unplanned ? settings.autoReplicas : 0
    this.#announcedAt = now
    this.#firstAnnouncedAt = now
    this.#reannounceMs = settings.reannounceMs
    this.#nextAnnounceAt = now + settings.reannounceMs
  }

  /**
   * Rebuilds a task from its journal by replaying its quorum events into a fresh QuorumTask.
   * Follow with a `resume` event.
   */
  static restore(
    record: TaskRecord,
    spec: TaskSpec,
    settings: TaskMachineSettings,
    journaled: JournaledTask,
    now: number,
  ): TaskMachine {
    const m = new TaskMachine(record, spec, settings, now)
    if (m.#unplanned) return m
    for (const [peer, claim] of journaled.claims) m.#claims.set(peer, claim)
    const scan = (decisions: QuorumDecision[]): void => {
      for (const d of decisions) if (d.type === 'fetchOutput') m.#fetching = d.peer
    }
    scan(m.#quorum.start())
    for (const event of journaled.events) {
      if (event.type === 'outputChecked') m.#fetching = undefined
      scan(m.#quorum.apply(event))
      m.#seq++
    }
    const snap = m.#quorum.snapshot()
    m.#need = snap.pendingAwards
    // award terms from before the restart (journals older than award records have none: such
    // awards are settled at the task's max price)
    const made = new Map(journaled.awards.map((a) => [a.peer, a]))
    for (const peer of snap.awarded) {
      const a = made.get(peer)
      m.#awardees.push(a == null ? { peer } : { peer, address: a.address, price: a.price })
    }
    // a single-replica plan whose one award was never made: that executor may be gone, plan again
    if (record.plan?.onlyExecutor !== undefined && snap.awarded.length === 0) {
      m.#record.plan = undefined
      m.#quorum = new QuorumTask({ replicas: settings.autoReplicas })
      m.#unplanned = true
      m.#need = settings.autoReplicas
    }
    return m
  }

  get taskId(): string {
    return this.#record.taskId
  }

  get terminal(): boolean {
    const s = this.#record.status
    return s === 'done' || s === 'failed' || s === 'cancelled'
  }

  view(): TaskView {
    return {
      record: { ...this.#record },
      quorum: this.#quorum.snapshot(),
      need: this.#need,
      awardees: this.#awardees.map((a) => ({ peer: a.peer, price: a.price })),
      claims: this.#claims.size,
      bidders: this.#bidders.size,
      pendingBids: this.#pending.length,
      firstAnnouncedAt: this.#firstAnnouncedAt,
      terminal: this.terminal,
    }
  }

  /** Why the task waits, for a person; undefined once it ended. */
  waiting(now: number, known: readonly Capacity[]): string | undefined {
    if (this.terminal) return undefined
    const snap = this.#quorum.snapshot()
    return explainWaiting({
      spec: this.spec,
      bidders: this.#bidders.size,
      need: this.#need,
      awarded: snap.awarded.length,
      replicas: snap.replicas,
      firstAnnouncedAt: this.#firstAnnouncedAt,
      now,
      known,
    })
  }

  handle(event: TaskEvent): TaskEffect[] {
    this.#now = Math.max(this.#now, event.now)
    this.#effects = []
    switch (event.type) {
      case 'start':
        this.#announcedAt = this.#firstAnnouncedAt = event.now
        this.#nextAnnounceAt = event.now + this.#reannounceMs
        if (this.#unplanned) this.#announce(false)
        else this.#carryOut(this.#quorum.start())
        break
      case 'resume':
        this.#resume()
        break
      case 'bid':
        this.#onBid(event.bid)
        break
      case 'timer':
        this.#onTimer(event.timer, event.at)
        break
      case 'planned':
        this.#onPlanned(event.plan)
        break
      case 'claim':
        this.#onClaim(event.requestId, event.claim, event.signed)
        break
      case 'outputChecked':
        if (this.#fetching !== event.peer) {
          this.#do({ type: 'log', message: `output check from ${event.peer} was not asked for` })
          break
        }
        this.#fetching = undefined
        this.#apply({ type: 'outputChecked', peer: event.peer, outcome: event.outcome })
        break
      case 'cancel':
        this.#cancel()
        break
      case 'tick':
        this.#tick(event.known)
        break
    }
    const out = this.#effects
    this.#effects = []
    return out
  }

  #do(effect: TaskEffect): void {
    this.#effects.push(effect)
  }

  #journal(entry: JournalEntry): void {
    this.#do({ type: 'journal', entry })
  }

  #journalRecord(): void {
    this.#journal({ kind: 'task', record: { ...this.#record } })
  }

  #announce(cancelled: boolean): void {
    this.#record.round++
    this.#journalRecord()
    this.#announcedAt = this.#now
    this.#nextAnnounceAt = this.#now + this.#reannounceMs
    this.#do({ type: 'publish', round: this.#record.round, cancelled })
  }

  /** Journals a quorum event, applies it and carries out what the quorum decides. */
  #apply(event: QuorumEvent): void {
    // an `auto` task aborted (cancelled, expired, no bids) before any bid window closed
    if (this.#unplanned) this.#planReplicated()
    this.#journal({ kind: 'event', seq: this.#seq++, event })
    this.#carryOut(this.#quorum.apply(event))
  }

  #planReplicated(): void {
    this.#record.plan = { quorum: { replicas: this.#settings.autoReplicas }, spotCheck: false }
    this.#journalRecord()
    this.#unplanned = false
    this.#quorum.start()
    this.#need = this.#settings.autoReplicas
  }

  #carryOut(decisions: QuorumDecision[]): void {
    for (const d of decisions) {
      switch (d.type) {
        case 'award':
          this.#need += d.count
          this.#announce(false)
          break
        case 'fetchOutput': {
          this.#fetching = d.peer
          const claim = this.#claims.get(d.peer)
          if (claim != null) this.#do({ type: 'fetchOutput', peer: d.peer, claim })
          // the claim is not in the journal (it failed its check on restore): nothing to fetch
          else this.#apply({ type: 'outputChecked', peer: d.peer, outcome: 'unavailable' })
          break
        }
        case 'accept':
          this.#finish('done', undefined, this.#claims.get(d.outputFrom))
          break
        case 'fail':
          this.#finish(this.#record.status === 'cancelled' ? 'cancelled' : 'failed', d.reason)
          break
        case 'settled':
          for (const peer of this.#deadlines)
            this.#do({ type: 'clearTimer', timer: { kind: 'deadline', peer } })
          this.#deadlines.clear()
          this.#do({ type: 'forget' })
          this.#settle(d.verdicts)
          break
        case 'ignored':
          this.#do({ type: 'log', message: `ignored: ${d.reason}` })
          break
        case 'verdict':
          break
      }
    }
  }

  #settle(verdicts: readonly ExecutorVerdict[]): void {
    this.#do({
      type: 'settle',
      verdicts,
      replicas: this.#quorum.replicas,
      executors: verdicts.map((v) => ({
        peer: v.peer,
        verdict: v.verdict,
        claimedFuel: this.#claims.get(v.peer)?.fuelUsed ?? 0,
        price: this.#awardees.find((a) => a.peer === v.peer)?.price ?? this.spec.maxPrice,
      })),
    })
  }

  #finish(status: 'done' | 'failed' | 'cancelled', reason?: string, claim?: Claim): void {
    const r = this.#record
    r.status = status
    r.reason = reason
    r.finishedAt = this.#now
    if (claim != null) {
      r.outputHash = uint8ArrayToString(claim.outputHash, 'base16')
      r.outputCid = claim.outputCid.toString()
    }
    this.#closeWindow()
    this.#journalRecord()
    this.#do({ type: 'finished', record: { ...r } })
  }

  /** Declines every held bid and closes the window (the task ended). */
  #closeWindow(): void {
    this.#clearWindow()
    this.#planning = false
    for (const p of this.#pending.splice(0))
      this.#do({ type: 'reply', bidId: p.bidId, decline: 'task finished' })
  }

  #clearWindow(): void {
    if (this.#windowAt !== undefined) this.#do({ type: 'clearTimer', timer: WINDOW })
    this.#windowAt = undefined
    this.#windowOpenedAt = undefined
  }

  #setWindow(at: number): void {
    this.#windowAt = at
    this.#do({ type: 'setTimer', timer: WINDOW, at })
  }

  #decline(bid: HeldBid, reason: string): void {
    this.#do({
      type: 'emit',
      event: { type: 'bid', taskId: this.taskId, peer: bid.peer, decision: 'decline', reason },
    })
    this.#do({ type: 'reply', bidId: bid.bidId, decline: reason })
  }

  /**
   * An awardee that bids again on the same round before it claimed never received its award:
   * the reply was lost with the path it travelled (a relay that went away mid-reply). It gets
   * the same award again, with the same deadline, instead of losing the execution until that
   * deadline passes. A bid on a later round is not that: it comes from an executor that lost
   * its award by restarting, which is reissued around after its deadline and paid nothing.
   */
  #reaward(bid: HeldBid): boolean {
    const a = this.#awardees.find((x) => x.peer === bid.peer)
    if (a?.deadlineAt === undefined || a.deadlineAt <= this.#now) return false
    if (bid.round === undefined || bid.round !== a.round) return false
    if (this.#claims.has(bid.peer) || !this.#deadlines.has(bid.peer)) return false
    this.#do({ type: 'reply', bidId: bid.bidId, award: { deadlineAt: a.deadlineAt } })
    return true
  }

  /**
   * A bid sent again while the first is still held (its connection closed before the reply, and
   * the executor's transport sent it again on another) takes the first one's place: the reply
   * then goes where the executor still listens. Only the same peer's bid on the same round, at
   * an acceptable price, replaces; the first one's reply (to a path already gone) is a decline.
   */
  #supersede(bid: HeldBid): boolean {
    const i = this.#pending.findIndex((p) => p.peer === bid.peer)
    if (i < 0) return false
    const held = this.#pending[i]
    if (bid.round === undefined || bid.round !== held.round) return false
    if (!Number.isSafeInteger(bid.price) || bid.price > this.spec.maxPrice) return false
    this.#pending[i] = { ...bid, latencyMs: held.latencyMs }
    this.#do({ type: 'reply', bidId: held.bidId, decline: 'sent again' })
    return true
  }

  /** Why a bid cannot be held, or undefined when it can. */
  #refusal(bid: HeldBid): string | undefined {
    if (!Number.isSafeInteger(bid.price) || bid.price > this.spec.maxPrice) return 'price above the maximum'
    if (this.#awardees.some((a) => a.peer === bid.peer)) return 'already awarded to this peer'
    if (this.#pending.some((p) => p.peer === bid.peer)) return 'duplicate bid'
    if (this.#need <= 0) return 'fully awarded'
    if (this.#pending.length >= MAX_PENDING_BIDS) return 'too many bids'
    return undefined
  }

  #onBid(bid: HeldBid): void {
    if (this.terminal) {
      this.#decline(bid, 'task finished')
      return
    }
    if (this.#bidders.size < MAX_BIDDERS_COUNTED) this.#bidders.add(bid.peer)
    // bids still arriving: no need to re-announce yet (under load, re-announcing would feed the load)
    this.#nextAnnounceAt = Math.max(this.#nextAnnounceAt, this.#now + this.#reannounceMs)
    if (this.#reaward(bid) || this.#supersede(bid)) return
    const refusal = this.#refusal(bid)
    if (refusal !== undefined) {
      this.#decline(bid, refusal)
      return
    }
    this.#pending.push({ ...bid, latencyMs: this.#now - this.#announcedAt })
    if (this.#planning) return
    if (this.#windowOpenedAt === undefined) {
      this.#windowOpenedAt = this.#now
      this.#setWindow(this.#now + this.#settings.bidWindowMaxMs)
    }
    if (this.#pending.length >= this.#need) {
      const closeAt = this.#windowOpenedAt + this.#settings.bidWindowMinMs
      if (closeAt <= this.#now || this.#pending.length >= 2 * this.#need) this.#decideWindow()
      else this.#setWindow(closeAt)
    }
  }

  #onTimer(timer: TimerKey, at: number): void {
    if (timer.kind === 'window') {
      if (this.#windowAt === at && !this.#planning) {
        this.#windowAt = undefined
        this.#decideWindow()
      }
      return
    }
    if (!this.#deadlines.delete(timer.peer)) return
    this.#apply({ type: 'deadlineMissed', peer: timer.peer })
  }

  /** Closes the bid window: ranks the held bids, awards the best, declines the rest. */
  #decideWindow(): void {
    this.#clearWindow()
    if (this.#pending.length === 0) return
    if (this.#unplanned && !this.terminal) {
      const ranked = this.#settings.rank(this.#pending)
      this.#planning = true
      this.#do({ type: 'plan', bestBidder: ranked[0].peer })
      return
    }
    this.#award(this.#pending.splice(0))
  }

  #onPlanned(plan: TaskPlan): void {
    if (!this.#planning || !this.#unplanned) return
    this.#planning = false
    this.#record.plan = { quorum: plan.quorum, onlyExecutor: plan.onlyExecutor, spotCheck: plan.spotCheck }
    this.#journalRecord()
    this.#quorum = new QuorumTask(plan.quorum)
    this.#unplanned = false
    this.#need = 0
    for (const d of this.#quorum.start()) if (d.type === 'award') this.#need += d.count
    this.#award(this.#pending.splice(0))
  }

  #award(held: HeldBid[]): void {
    let ranked = this.#settings.rank(held) as HeldBid[]
    const only = this.#record.plan?.onlyExecutor
    // a single-replica task goes to its trusted executor only (until it falls back)
    if (only !== undefined && this.#quorum.replicas === 1) ranked = ranked.filter((b) => b.peer === only)
    const chosen = this.terminal
      ? []
      : selectAwardees(ranked, {
          count: this.#need,
          previous: this.#awardees,
          maxPerPrefix: this.#settings.maxAwardsPerPrefix,
        })
    const deadlineAt = this.#now + this.spec.deadlineMs
    for (const c of chosen) {
      this.#need--
      this.#journal({ kind: 'award', award: { peer: c.peer, price: c.price, address: c.address } })
      this.#awardees.push({ peer: c.peer, address: c.address, price: c.price, deadlineAt, round: c.round })
      this.#apply({ type: 'awarded', peer: c.peer })
      this.#deadlines.add(c.peer)
      this.#do({
        type: 'setTimer',
        timer: { kind: 'deadline', peer: c.peer },
        at: deadlineAt + DEADLINE_GRACE_MS,
      })
      if (this.#record.status === 'waiting') {
        this.#record.status = 'running'
        this.#journalRecord()
        const e = { type: 'task', taskId: this.taskId, jobId: this.#record.jobId, status: 'running' } as const
        this.#do({ type: 'emit', event: e })
      }
      this.#do({ type: 'emit', event: { type: 'bid', taskId: this.taskId, peer: c.peer, decision: 'award' } })
      this.#do({ type: 'reply', bidId: c.bidId, award: { deadlineAt } })
    }
    for (const p of held) if (!chosen.includes(p)) this.#decline(p, 'outbid')
  }

  #onClaim(requestId: number, claim: Claim, signed: Uint8Array): void {
    const peer = claim.executor
    let refusal: string | undefined
    if (!this.#awardees.some((a) => a.peer === peer)) refusal = 'not awarded'
    else if (this.#claims.get(peer)?.resultHash === claim.resultHash) {
      // the same claim sent again: its acknowledgement was lost with the connection it took
      const cancelled = this.#record.status === 'cancelled'
      this.#do({ type: 'ack', requestId, ok: !cancelled, reason: cancelled ? 'cancelled' : '' })
      return
    } else if (this.#claims.has(peer)) refusal = 'already claimed'
    if (refusal !== undefined) {
      this.#do({ type: 'ack', requestId, ok: false, reason: refusal })
      return
    }
    this.#claims.set(peer, claim)
    if (this.#deadlines.delete(peer)) this.#do({ type: 'clearTimer', timer: { kind: 'deadline', peer } })
    this.#journal({ kind: 'claim', peer, signed })
    this.#apply({ type: 'claim', peer, resultHash: claim.resultHash })
    const cancelled = this.#record.status === 'cancelled'
    this.#do({ type: 'ack', requestId, ok: !cancelled, reason: cancelled ? 'cancelled' : '' })
  }

  /** Withdraws the task: no more awards, executors are told to drop it. */
  #cancel(): void {
    if (this.terminal) return
    this.#record.status = 'cancelled'
    this.#record.reason = 'cancelled by the user'
    this.#closeWindow()
    this.#announce(true)
    this.#apply({ type: 'abort', reason: 'cancelled by the user' })
  }

  #tick(known: readonly Capacity[]): void {
    if (this.terminal) return
    const now = this.#now
    if (now >= this.spec.expiresAt) {
      this.#apply({
        type: 'abort',
        reason: `the task expired: ${this.waiting(now, known) ?? 'no result in time'}`,
      })
      return
    }
    if (this.#need <= 0) return
    const idle = now - this.#firstAnnouncedAt
    if (this.#bidders.size === 0 && idle >= this.#settings.giveUpAfterMs) {
      const reason = `no executor bid within ${formatSeconds(idle)} s: ${explainSupply(this.spec, known)}`
      this.#apply({ type: 'abort', reason })
      return
    }
    if (this.#bidders.size === 0 && !this.#stuckEmitted && idle >= this.#settings.stuckAfterMs) {
      this.#stuckEmitted = true
      const waiting = this.waiting(now, known) ?? ''
      this.#do({ type: 'emit', event: { type: 'stuck', taskId: this.taskId, waiting } })
    }
    if (this.#pending.length === 0 && !this.#planning && now >= this.#nextAnnounceAt) {
      this.#reannounceMs = Math.min(MAX_REANNOUNCE_MS, this.#reannounceMs * 2)
      this.#announce(false)
    }
  }

  /** Carries on with a task rebuilt by `restore`. */
  #resume(): void {
    if (this.#unplanned) {
      this.#announce(false)
      return
    }
    const snap = this.#quorum.snapshot()
    if (snap.phase === 'accepted') {
      const from = snap.groups.find((g) => g.resultHash === snap.acceptedHash)?.members ?? []
      const claim = from.map((p) => this.#claims.get(p)).find((c) => c != null)
      this.#finish('done', undefined, claim)
    } else if (snap.phase === 'failed') {
      this.#finish(this.#record.status === 'cancelled' ? 'cancelled' : 'failed', snap.failureReason)
    }
    const decided = new Set(snap.verdicts.map((v) => v.peer))
    const counted = new Set(snap.groups.flatMap((g) => g.members))
    // a claim journaled just before a crash, whose quorum event was not: apply it now (the
    // executor was never acked and a resent claim is refused as "already claimed")
    const unapplied: string[] = []
    for (const peer of snap.awarded) {
      if (decided.has(peer) || counted.has(peer)) continue
      if (this.#claims.has(peer)) {
        unapplied.push(peer)
        continue
      }
      this.#deadlines.add(peer)
      const at = this.#now + this.spec.deadlineMs + DEADLINE_GRACE_MS
      this.#do({ type: 'setTimer', timer: { kind: 'deadline', peer }, at })
    }
    if (snap.settled) {
      // only unmarked tasks are restored in this state: settled in memory, receipts not all stored
      this.#do({ type: 'forget' })
      this.#settle(snap.verdicts)
    }
    if (this.#fetching !== undefined) {
      const claim = this.#claims.get(this.#fetching)
      if (claim != null) this.#do({ type: 'fetchOutput', peer: this.#fetching, claim })
      else {
        const peer = this.#fetching
        this.#fetching = undefined
        this.#apply({ type: 'outputChecked', peer, outcome: 'unavailable' })
      }
    }
    for (const peer of unapplied) {
      const claim = this.#claims.get(peer)
      if (claim != null) this.#apply({ type: 'claim', peer, resultHash: claim.resultHash })
    }
    if (this.#need > 0 && !this.terminal) this.#announce(false)
  }
}
