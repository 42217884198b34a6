/**
 * The submitter side of one node: for each of its tasks, a QuorumTask drives awarding, reissue and
 * acceptance; this file carries out its decisions (announce, bid windows, deadlines, output
 * checks) and journals every event before applying it.
 */
import type { Connection, Logger } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { parseBlobCid } from '../blobs/index.js'
import { Bid, BidReply, ClaimAck } from '../pb/market.js'
import {
  type AwardCandidate,
  type ExecutorVerdict,
  type QuorumDecision,
  type QuorumEvent,
  QuorumTask,
  selectAwardees,
} from '../verification/index.js'
import type { AutoReplication } from './auto.js'
import { InvalidClaimError } from './errors.js'
import { explainSupply, explainWaiting, formatSeconds } from './explain.js'
import type { Journal, TaskRecord } from './journal.js'
import {
  AUTO_REPLICAS,
  ab,
  agreedFuelOf,
  type Claim,
  checkClaimAgainstSpec,
  payableTerms,
  signAnnouncement,
  type TaskSpec,
  verifyClaim,
} from './spec.js'
import { INLINE_INPUT_BYTES } from './wire.js'
import {
  type MarketComponents,
  type MarketEvent,
  type MarketInit,
  type RankedBid,
  TASKS_TOPIC,
} from './types.js'

/** Bids held open per task while its window is open; more are declined at once. */
export const MAX_PENDING_BIDS = 64
/** Distinct bidders counted per task (for explanations). */
const MAX_BIDDERS_COUNTED = 256
/** Extra time after an executor's deadline before the submitter counts it missed. */
export const DEADLINE_GRACE_MS = 500
const MAX_REANNOUNCE_MS = 10_000
const OUTPUT_FETCH_TIMEOUT_MS = 30_000

interface PendingBid extends RankedBid {
  reply: (r: Uint8Array) => void
}

export interface LiveTask {
  record: TaskRecord
  spec: TaskSpec
  specBytes: Uint8Array
  /** For an `auto` task, replaced once by its plan's quorum when its first bid window closes. */
  quorum: QuorumTask
  /** An `auto` task whose plan is not made yet: its quorum is not started. */
  unplanned: boolean
  seq: number
  need: number
  awardees: Array<AwardCandidate & { price?: number }>
  pending: PendingBid[]
  windowOpenedAt?: number
  windowTimer?: NodeJS.Timeout
  deadlines: Map<string, NodeJS.Timeout>
  claims: Map<string, Claim>
  bidders: Set<string>
  announcedAt: number
  firstAnnouncedAt: number
  nextAnnounceAt: number
  reannounceMs: number
  stuckEmitted: boolean
  chain: Promise<void>
  /** The input, when small enough to send inline with an award. */
  input?: Uint8Array
}

export type Settings = Required<
  Pick<MarketInit, 'bidWindowMaxMs' | 'bidWindowMinMs' | 'giveUpAfterMs' | 'stuckAfterMs' | 'reannounceMs'>
> &
  Pick<MarketInit, 'rankBids' | 'maxAwardsPerPrefix' | 'onSettled'> & {
    /** Adaptive replication: plans `auto` tasks and keeps every executor's run. */
    auto: AutoReplication
  }

export function defaultRank(bids: readonly RankedBid[]): RankedBid[] {
  return [...bids].sort((a, b) => a.price - b.price || a.latencyMs - b.latencyMs)
}

const declineBytes = (taskId: Uint8Array, reason: string): Uint8Array =>
  BidReply.encode({ taskId: ab(taskId), decision: BidReply.Decision.DECLINE, reason, deadlineAt: 0 })

export class Submitter {
  readonly live = new Map<string, LiveTask>()

  constructor(
    private readonly components: MarketComponents,
    private readonly settings: Settings,
    private readonly journal: Journal,
    private readonly log: Logger,
    private readonly emit: (e: MarketEvent) => void,
    /** Called when a task reaches done / failed / cancelled. */
    private readonly onFinished: (record: TaskRecord) => void,
  ) {}

  /** Creates the live state of a task (new, or rebuilt from the journal by replaying `events`). */
  begin(record: TaskRecord, spec: TaskSpec, specBytes: Uint8Array, input?: Uint8Array): LiveTask {
    const now = Date.now()
    const autoReplicas = this.settings.auto.policy.replicas
    const unplanned = spec.replicas === AUTO_REPLICAS && record.plan === undefined
    const live: LiveTask = {
      record,
      spec,
      specBytes,
      quorum: new QuorumTask(
        spec.replicas !== AUTO_REPLICAS
          ? { replicas: spec.replicas }
          : (record.plan?.quorum ?? { replicas: autoReplicas }),
      ),
      unplanned,
      seq: 0,
      // an unplanned auto task collects bids as if replicated: its plan may need that many
      need: unplanned ? autoReplicas : 0,
      awardees: [],
      pending: [],
      deadlines: new Map(),
      claims: new Map(),
      bidders: new Set(),
      announcedAt: now,
      firstAnnouncedAt: now,
      nextAnnounceAt: now + this.settings.reannounceMs,
      reannounceMs: this.settings.reannounceMs,
      stuckEmitted: false,
      chain: Promise.resolve(),
      input: input != null && input.byteLength <= INLINE_INPUT_BYTES ? input : undefined,
    }
    this.live.set(record.taskId, live)
    return live
  }

  /** Starts a new task: asks the quorum for its first awards, which announces it. */
  async start(live: LiveTask): Promise<void> {
    if (live.unplanned) await this.run(live, () => this.announce(live))
    else await this.run(live, () => this.carryOut(live, live.quorum.start()))
  }

  /**
   * Makes an `auto` task's plan from its best-ranked bidder (verification/adaptive.ts) and starts
   * its quorum. The plan is journaled before any award, so a restart rebuilds the same quorum.
   */
  private async plan(live: LiveTask, bestBidder: string): Promise<void> {
    const plan = this.settings.auto.plan(bestBidder)
    live.record.plan = { quorum: plan.quorum, onlyExecutor: plan.onlyExecutor, spotCheck: plan.spotCheck }
    await this.journal.putTask(live.record)
    live.quorum = new QuorumTask(plan.quorum)
    live.unplanned = false
    live.need = 0
    for (const d of live.quorum.start()) if (d.type === 'award') live.need += d.count
  }

  /** Plans an `auto` task as replicated without a bidder to rank (it ends before its first award). */
  private async planReplicated(live: LiveTask): Promise<void> {
    live.record.plan = { quorum: { replicas: this.settings.auto.policy.replicas }, spotCheck: false }
    await this.journal.putTask(live.record)
    live.unplanned = false
    live.quorum.start()
    live.need = this.settings.auto.policy.replicas
  }

  /**
   * Forgets the plan of an `auto` task restored from the journal before its single award was
   * made: its one executor may be gone, so the next bid window plans again.
   */
  unplan(live: LiveTask): void {
    live.record.plan = undefined
    live.quorum = new QuorumTask({ replicas: this.settings.auto.policy.replicas })
    live.unplanned = true
    live.need = this.settings.auto.policy.replicas
  }

  /** Serialises everything that touches one task's quorum. */
  private run(live: LiveTask, fn: () => Promise<void> | void): Promise<void> {
    const next = live.chain
      .then(fn)
      .catch((err: Error) => this.log.error('task %s: %s', live.record.taskId, err.message))
    live.chain = next
    return next
  }

  private async applyNow(live: LiveTask, event: QuorumEvent): Promise<void> {
    // an `auto` task aborted (cancelled, expired, no bids) before any bid window closed
    if (live.unplanned) await this.planReplicated(live)
    await this.journal.appendEvent(live.record.taskId, live.seq++, event)
    await this.carryOut(live, live.quorum.apply(event))
  }

  private apply(live: LiveTask, event: QuorumEvent): Promise<void> {
    return this.run(live, () => this.applyNow(live, event))
  }

  private async carryOut(live: LiveTask, decisions: QuorumDecision[]): Promise<void> {
    const id = live.record.taskId
    for (const d of decisions) {
      switch (d.type) {
        case 'award':
          live.need += d.count
          await this.announce(live)
          break
        case 'fetchOutput':
          void this.checkOutput(live, d.peer)
          break
        case 'accept': {
          const claim = live.claims.get(d.outputFrom)
          await this.finish(live, 'done', undefined, claim)
          break
        }
        case 'fail':
          await this.finish(live, live.record.status === 'cancelled' ? 'cancelled' : 'failed', d.reason)
          break
        case 'settled':
          for (const t of live.deadlines.values()) clearTimeout(t)
          live.deadlines.clear()
          this.live.delete(id)
          await this.settle(live, d.verdicts)
          // adaptive replication learns from every settled task; receipts come first
          this.settings.auto
            .settle(d.verdicts, live.quorum.replicas)
            .catch((err: Error) => this.log.error('task %s: journaling runs: %s', id, err.message))
          break
        case 'ignored':
          this.log('task %s: ignored: %s', id, d.reason)
          break
        case 'verdict':
          break
      }
    }
  }

  /**
   * Settlement: the ledger signs one receipt per executor from these verdicts, then the journal
   * marks the task settled. A crash in between leaves it unmarked, so a restart settles it again
   * (the ledger skips receipts it already holds). An award journaled before award terms existed
   * has no bid price: it is settled at the task's max price.
   */
  private async settle(live: LiveTask, verdicts: readonly ExecutorVerdict[]): Promise<void> {
    const id = live.record.taskId
    // the quorum's fuel, bounded by the spec (spec.ts payableTerms), never one executor's figure
    const accepted = verdicts.filter((v) => v.verdict === 'accepted').map((v) => live.claims.get(v.peer))
    const agreed = agreedFuelOf(accepted.filter((c): c is Claim => c != null))
    try {
      await this.settings.onSettled?.({
        taskId: id,
        jobId: live.record.jobId,
        executors: verdicts.map((v) => ({
          peer: v.peer,
          verdict: v.verdict,
          ...payableTerms(
            live.spec,
            v.verdict === 'accepted' ? agreed : 0,
            live.awardees.find((a) => a.peer === v.peer)?.price ?? live.spec.maxPrice,
          ),
        })),
      })
      await this.journal.markSettled(id)
    } catch (err) {
      this.log.error('task %s: settling: %s', id, (err as Error).message)
    }
  }

  private async finish(
    live: LiveTask,
    status: 'done' | 'failed' | 'cancelled',
    reason?: string,
    claim?: Claim,
  ): Promise<void> {
    const r = live.record
    r.status = status
    r.reason = reason
    r.finishedAt = Date.now()
    if (claim != null) {
      r.outputHash = uint8ArrayToString(claim.outputHash, 'base16')
      r.outputCid = claim.outputCid.toString()
    }
    this.closeWindow(live)
    await this.journal.putTask(r)
    this.onFinished(r)
  }

  /** Publishes the next round of the task's announcement (journals the round first). */
  async announce(live: LiveTask, cancelled = false): Promise<void> {
    const r = live.record
    r.round++
    await this.journal.putTask(r)
    const now = Date.now()
    live.announcedAt = now
    live.nextAnnounceAt = now + live.reannounceMs
    const { privateKey, network } = this.components
    const bytes = await signAnnouncement(privateKey, live.specBytes, r.round, cancelled, network)
    this.components.pubsub.publish(TASKS_TOPIC, bytes).catch((err: Error) => {
      this.log('announcing %s failed: %s', r.taskId, err.message)
    })
  }

  private terminal(live: LiveTask): boolean {
    const s = live.record.status
    return s === 'done' || s === 'failed' || s === 'cancelled'
  }

  /** `/plusone/bid/1.0.0` request handler: resolves with the reply once the window decides. */
  onBid(body: Uint8Array, connection: Connection): Promise<Uint8Array> {
    const bid = Bid.decode(body)
    const peer = connection.remotePeer.toString()
    let taskId: string
    try {
      taskId = cidString(bid.taskId)
    } catch {
      return Promise.resolve(declineBytes(bid.taskId, 'bad task id'))
    }
    const live = this.live.get(taskId)
    const decline = (reason: string): Promise<Uint8Array> => {
      this.emit({ type: 'bid', taskId, peer, decision: 'decline', reason })
      return Promise.resolve(declineBytes(bid.taskId, reason))
    }
    if (live == null) return decline('unknown task')
    if (this.terminal(live)) return decline('task finished')
    if (live.bidders.size < MAX_BIDDERS_COUNTED) live.bidders.add(peer)
    // bids still arriving: no need to re-announce yet (under load, re-announcing would feed the load)
    live.nextAnnounceAt = Math.max(live.nextAnnounceAt, Date.now() + live.reannounceMs)
    if (!Number.isSafeInteger(bid.price) || bid.price > live.spec.maxPrice)
      return decline('price above the maximum')
    if (live.awardees.some((a) => a.peer === peer)) return decline('already awarded to this peer')
    if (live.pending.some((p) => p.peer === peer)) return decline('duplicate bid')
    if (live.need <= 0) return decline('fully awarded')
    if (live.pending.length >= MAX_PENDING_BIDS) return decline('too many bids')
    const now = Date.now()
    return new Promise<Uint8Array>((resolve) => {
      live.pending.push({
        peer,
        address: connection.remoteAddr.toString(),
        price: bid.price,
        latencyMs: now - live.announcedAt,
        freeSlots: bid.freeSlots,
        reply: resolve,
      })
      if (live.windowOpenedAt === undefined) {
        live.windowOpenedAt = now
        live.windowTimer = setTimeout(() => this.decideWindow(live), this.settings.bidWindowMaxMs)
      }
      if (live.pending.length >= live.need) {
        const wait = live.windowOpenedAt + this.settings.bidWindowMinMs - now
        if (wait <= 0 || live.pending.length >= 2 * live.need) this.decideWindow(live)
        else {
          clearTimeout(live.windowTimer)
          live.windowTimer = setTimeout(() => this.decideWindow(live), wait)
        }
      }
    })
  }

  /** Declines every held bid and closes the window (the task ended). */
  private closeWindow(live: LiveTask): void {
    clearTimeout(live.windowTimer)
    live.windowTimer = undefined
    live.windowOpenedAt = undefined
    const taskIdBytes = cidBytes(live.record.taskId)
    for (const p of live.pending.splice(0)) p.reply(declineBytes(taskIdBytes, 'task finished'))
  }

  /** Closes the bid window: ranks the held bids, awards the best, declines the rest. */
  private decideWindow(live: LiveTask): void {
    clearTimeout(live.windowTimer)
    live.windowTimer = undefined
    live.windowOpenedAt = undefined
    const held = live.pending.splice(0)
    if (held.length === 0) return
    void this.run(live, async () => {
      const taskIdBytes = cidBytes(live.record.taskId)
      let ranked = (this.settings.rankBids ?? defaultRank)(held) as PendingBid[]
      if (live.unplanned && !this.terminal(live)) await this.plan(live, ranked[0].peer)
      const only = live.record.plan?.onlyExecutor
      // a single-replica task goes to its trusted executor only (until it falls back)
      if (only !== undefined && live.quorum.replicas === 1) ranked = ranked.filter((b) => b.peer === only)
      const chosen = this.terminal(live)
        ? []
        : selectAwardees(ranked, {
            count: live.need,
            previous: live.awardees,
            maxPerPrefix: this.settings.maxAwardsPerPrefix,
          })
      const deadlineAt = Date.now() + live.spec.deadlineMs
      for (const c of chosen) {
        live.need--
        await this.journal.putAward(live.record.taskId, { peer: c.peer, price: c.price, address: c.address })
        live.awardees.push({ peer: c.peer, address: c.address, price: c.price })
        await this.applyNow(live, { type: 'awarded', peer: c.peer })
        live.deadlines.set(
          c.peer,
          setTimeout(() => {
            live.deadlines.delete(c.peer)
            void this.apply(live, { type: 'deadlineMissed', peer: c.peer })
          }, live.spec.deadlineMs + DEADLINE_GRACE_MS),
        )
        if (live.record.status === 'waiting') {
          live.record.status = 'running'
          await this.journal.putTask(live.record)
          this.emit({ type: 'task', taskId: live.record.taskId, jobId: live.record.jobId, status: 'running' })
        }
        this.emit({ type: 'bid', taskId: live.record.taskId, peer: c.peer, decision: 'award' })
        c.reply(
          BidReply.encode({
            taskId: ab(taskIdBytes),
            decision: BidReply.Decision.AWARD,
            reason: '',
            deadlineAt,
            input: ab(live.input ?? new Uint8Array()),
          }),
        )
      }
      for (const p of held) {
        if (chosen.includes(p)) continue
        this.emit({
          type: 'bid',
          taskId: live.record.taskId,
          peer: p.peer,
          decision: 'decline',
          reason: 'outbid',
        })
        p.reply(declineBytes(taskIdBytes, 'outbid'))
      }
    })
  }

  /** `/plusone/result/1.0.0` request handler. */
  async onClaim(body: Uint8Array, connection: Connection): Promise<Uint8Array> {
    const peer = connection.remotePeer.toString()
    let claim: Claim
    try {
      claim = await verifyClaim(body, peer, this.components.network)
      const known = this.live.get(claim.taskId)
      if (known != null) checkClaimAgainstSpec(claim, known.spec)
    } catch (err) {
      if (err instanceof InvalidClaimError) return ClaimAck.encode({ ok: false, reason: err.message })
      throw err
    }
    const live = this.live.get(claim.taskId)
    if (live == null) return ClaimAck.encode({ ok: false, reason: 'unknown or settled task' })
    if (!live.awardees.some((a) => a.peer === peer))
      return ClaimAck.encode({ ok: false, reason: 'not awarded' })
    if (live.claims.has(peer)) return ClaimAck.encode({ ok: false, reason: 'already claimed' })
    live.claims.set(peer, claim)
    clearTimeout(live.deadlines.get(peer))
    live.deadlines.delete(peer)
    await this.journal.putClaim(claim.taskId, peer, body)
    await this.apply(live, { type: 'claim', peer, resultHash: claim.resultHash })
    return ClaimAck.encode({
      ok: live.record.status !== 'cancelled',
      reason: live.record.status === 'cancelled' ? 'cancelled' : '',
    })
  }

  /** Fetches the output a claim names from its executor; the blob layer checks it against its hash. */
  async checkOutput(live: LiveTask, peer: string): Promise<void> {
    const claim = live.claims.get(peer)
    let outcome: 'ok' | 'mismatch' | 'unavailable' = 'unavailable'
    if (claim != null) {
      try {
        await this.components.blobs.fetch(claim.outputCid, {
          holders: [peerIdFromString(peer)],
          maxBytes: Math.max(1, live.spec.maxOutputBytes),
          signal: AbortSignal.timeout(OUTPUT_FETCH_TIMEOUT_MS),
        })
        outcome = 'ok'
      } catch (err) {
        outcome = (err as Error).name === 'BlobHashMismatchError' ? 'mismatch' : 'unavailable'
        this.log('output of %s from %s: %s', live.record.taskId, peer, (err as Error).message)
      }
    }
    await this.apply(live, { type: 'outputChecked', peer, outcome })
  }

  /** Withdraws a task: no more awards, executors are told to drop it. */
  async cancel(live: LiveTask): Promise<void> {
    if (this.terminal(live)) return
    live.record.status = 'cancelled'
    live.record.reason = 'cancelled by the user'
    this.closeWindow(live)
    await this.announce(live, true)
    await this.apply(live, { type: 'abort', reason: 'cancelled by the user' })
  }

  /** Carries on with a task rebuilt from the journal (see resume.ts). */
  async resumeLive(live: LiveTask, fetching: string | undefined): Promise<void> {
    const snap = live.quorum.snapshot()
    if (snap.phase === 'accepted') {
      const from = snap.groups.find((g) => g.resultHash === snap.acceptedHash)?.members ?? []
      const claim = from.map((p) => live.claims.get(p)).find((c) => c != null)
      await this.finish(live, 'done', undefined, claim)
    } else if (snap.phase === 'failed') {
      await this.finish(live, live.record.status === 'cancelled' ? 'cancelled' : 'failed', snap.failureReason)
    }
    const decided = new Set(snap.verdicts.map((v) => v.peer))
    const counted = new Set(snap.groups.flatMap((g) => g.members))
    // a claim journaled just before a crash, whose quorum event was not: apply it now (the
    // executor was never acked and a resent claim is refused as "already claimed")
    const unapplied: string[] = []
    for (const peer of snap.awarded) {
      if (decided.has(peer) || counted.has(peer)) continue
      if (live.claims.has(peer)) {
        unapplied.push(peer)
        continue
      }
      live.deadlines.set(
        peer,
        setTimeout(() => {
          live.deadlines.delete(peer)
          void this.apply(live, { type: 'deadlineMissed', peer })
        }, live.spec.deadlineMs + DEADLINE_GRACE_MS),
      )
    }
    if (snap.settled) {
      // only unmarked tasks are restored in this state: settled in memory, receipts not all stored
      this.live.delete(live.record.taskId)
      await this.settle(live, snap.verdicts)
    }
    if (fetching !== undefined) void this.checkOutput(live, fetching)
    for (const peer of unapplied) {
      const claim = live.claims.get(peer)
      if (claim != null) await this.apply(live, { type: 'claim', peer, resultHash: claim.resultHash })
    }
    if (live.need > 0 && !this.terminal(live)) await this.run(live, () => this.announce(live))
  }

  waiting(live: LiveTask, now = Date.now()): string | undefined {
    if (this.terminal(live)) return undefined
    const snap = live.quorum.snapshot()
    return explainWaiting({
      spec: live.spec,
      bidders: live.bidders.size,
      need: live.need,
      awarded: snap.awarded.length,
      replicas: snap.replicas,
      firstAnnouncedAt: live.firstAnnouncedAt,
      now,
      known: this.components.capacity?.known() ?? [],
    })
  }

  /** Periodic duties: re-announce tasks short of executors, report stuck ones, give up, expire. */
  tick(now = Date.now()): void {
    for (const live of this.live.values()) {
      if (this.terminal(live)) continue
      const known = () => this.components.capacity?.known() ?? []
      if (now >= live.spec.expiresAt) {
        void this.apply(live, {
          type: 'abort',
          reason: `the task expired: ${this.waiting(live, now) ?? 'no result in time'}`,
        })
        continue
      }
      if (live.need <= 0) continue
      const idle = now - live.firstAnnouncedAt
      if (live.bidders.size === 0 && idle >= this.settings.giveUpAfterMs) {
        const reason = `no executor bid within ${formatSeconds(idle)} s: ${explainSupply(live.spec, known())}`
        void this.apply(live, { type: 'abort', reason })
        continue
      }
      if (live.bidders.size === 0 && !live.stuckEmitted && idle >= this.settings.stuckAfterMs) {
        live.stuckEmitted = true
        this.emit({ type: 'stuck', taskId: live.record.taskId, waiting: this.waiting(live, now) ?? '' })
      }
      if (live.pending.length === 0 && now >= live.nextAnnounceAt) {
        live.reannounceMs = Math.min(MAX_REANNOUNCE_MS, live.reannounceMs * 2)
        void this.run(live, () => this.announce(live))
      }
    }
  }

  stop(): void {
    for (const live of this.live.values()) {
      this.closeWindow(live)
      for (const t of live.deadlines.values()) clearTimeout(t)
      live.deadlines.clear()
    }
    this.live.clear()
  }
}

function cidString(bytes: Uint8Array): string {
  return parseBlobCid(bytes).toString()
}

function cidBytes(id: string): Uint8Array {
  return parseBlobCid(id).bytes
}
