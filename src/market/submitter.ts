/**
 * The submitter's shell: one pure TaskMachine per task (task-machine.ts) and one queue per task
 * that feeds it events — bids, claims, timers, output checks, plans, ticks, cancel — one at a time,
 * and carries out the effects it returns in order, completing each journal write before the next
 * effect. All timers, I/O and signing live here; every decision lives in the machine.
 */
import type { Logger } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { parseBlobCid } from '../blobs/index.js'
import { Bid, BidReply, ClaimAck } from '../pb/market.js'
import type { AutoReplication } from './auto.js'
import { InvalidClaimError } from './errors.js'
import type { Journal, TaskRecord } from './journal.js'
import {
  ab,
  agreedFuelOf,
  type Claim,
  checkClaimAgainstSpec,
  payableTerms,
  signAnnouncement,
  type TaskSpec,
  verifyClaim,
} from './spec.js'
import type { JournalEntry, SettledExecutor, TaskEffect, TaskEvent } from './task-events.js'
import { timerName } from './task-events.js'
import type { MarketTransport, RemotePeer } from './transport.js'
import {
  chooseCandidates,
  INVITE_PROTOCOL,
  INVITE_TIMEOUT_MS,
  invitationsFor,
  MAX_INVITE_REPLY_BYTES,
} from './candidates.js'
import { defaultRank, TaskMachine, type TaskMachineSettings, type TaskView } from './task-machine.js'
import {
  type MarketComponents,
  type MarketEvent,
  type MarketInit,
  type TaskSettlement,
  TASKS_TOPIC,
} from './types.js'
import { INLINE_INPUT_BYTES } from './wire.js'

/**
 * Bids one peer may have waiting for an answer here at once, across all tasks; more are declined
 * at once ("too many bids in flight"). An honest executor has at most `maxTasks` bids open (and
 * at most {@link MAX_BIDS_IN_FLIGHT_PER_SUBMITTER} per submitter); a flood from one peer cannot
 * hold hundreds of pending replies.
 */
export const MAX_PENDING_BIDS_PER_PEER = 16

const OUTPUT_FETCH_TIMEOUT_MS = 30_000
/** Attempts to fetch one executor's output (0.5 s, then 1 s apart) before it counts as unavailable. */
const OUTPUT_FETCH_ATTEMPTS = 3
const OUTPUT_FETCH_RETRY_MS = 500
const MIB = 1024 * 1024

export type Settings = Required<
  Pick<MarketInit, 'bidWindowMaxMs' | 'bidWindowMinMs' | 'giveUpAfterMs' | 'stuckAfterMs' | 'reannounceMs'>
> &
  Pick<MarketInit, 'rankBids' | 'maxAwardsPerPrefix' | 'onSettled'> & {
    /** Adaptive replication: plans `auto` tasks and keeps every executor's run. */
    auto: AutoReplication
  }

/**
 * What a settled task pays each executor: the seam between verification and the ledger. The
 * ledger turns each line into one signed receipt (amount from fuel × price). The payment rule
 * (spec.ts `payableTerms`): an accepted executor is paid the fuel the agreeing replicas reported —
 * never one executor's own figure — bounded by the spec's fuel limit and max price; the others
 * are paid nothing.
 */
export function settlementOf(
  record: Pick<TaskRecord, 'taskId' | 'jobId'>,
  spec: Pick<TaskSpec, 'fuel' | 'maxPrice'>,
  executors: SettledExecutor[],
): TaskSettlement {
  const agreed = agreedFuelOf(
    executors.filter((x) => x.verdict === 'accepted').map((x) => ({ fuelUsed: x.claimedFuel })),
  )
  return {
    taskId: record.taskId,
    jobId: record.jobId,
    executors: executors.map((x) => ({
      peer: x.peer,
      verdict: x.verdict,
      ...payableTerms(spec, x.verdict === 'accepted' ? agreed : 0, x.price),
    })),
  }
}

interface LiveTask {
  readonly machine: TaskMachine
  readonly specBytes: Uint8Array
  /** The input, when small enough to send inline with an award. */
  readonly input?: Uint8Array
  /** The task's queue: every event goes through it, one after another. */
  chain: Promise<void>
  readonly timers: Map<string, NodeJS.Timeout>
  /** Peers invited to bid on this task so far (a new round invites others). */
  readonly invited: Set<string>
  /** Replies owed to bidders and claimants, by the id their event carried. */
  readonly replies: Map<number, { kind: 'bid' | 'claim'; resolve: (reply: Uint8Array) => void }>
}

const declineBytes = (taskId: Uint8Array, reason: string): Uint8Array =>
  BidReply.encode({ taskId: ab(taskId), decision: BidReply.Decision.DECLINE, reason, deadlineAt: 0 })

export class Submitter {
  readonly #live = new Map<string, LiveTask>()
  /** peer → bids of it waiting for an answer (bounded by the peers with a bid open). */
  readonly #pendingBids = new Map<string, number>()
  readonly #machineSettings: TaskMachineSettings
  #nextRequestId = 1

  constructor(
    private readonly components: MarketComponents,
    private readonly settings: Settings,
    private readonly journal: Journal,
    private readonly log: Logger,
    private readonly emit: (e: MarketEvent) => void,
    /** Called when a task reaches done / failed / cancelled. */
    private readonly onFinished: (record: TaskRecord) => void,
    /** Called with every task record once it is journaled. */
    private readonly onRecord: (record: TaskRecord) => void,
    /** Invitations travel on this (candidates.ts). */
    private readonly transport: MarketTransport,
  ) {
    this.#machineSettings = {
      bidWindowMaxMs: settings.bidWindowMaxMs,
      bidWindowMinMs: settings.bidWindowMinMs,
      giveUpAfterMs: settings.giveUpAfterMs,
      stuckAfterMs: settings.stuckAfterMs,
      reannounceMs: settings.reannounceMs,
      autoReplicas: settings.auto.policy.replicas,
      rank: settings.rankBids ?? defaultRank,
      maxAwardsPerPrefix: settings.maxAwardsPerPrefix,
    }
  }

  /** Tasks not yet settled. */
  get size(): number {
    return this.#live.size
  }

  view(taskId: string): TaskView | undefined {
    return this.#live.get(taskId)?.machine.view()
  }

  waiting(taskId: string, now = Date.now()): string | undefined {
    return this.#live.get(taskId)?.machine.waiting(now, this.#known())
  }

  /** Starts a new task (journaled already by the market): announces it. */
  start(record: TaskRecord, spec: TaskSpec, specBytes: Uint8Array, input?: Uint8Array): Promise<void> {
    const machine = new TaskMachine(record, spec, this.#machineSettings, Date.now())
    const live = this.#add(machine, specBytes, input)
    return this.#enqueue(live, (now) => ({ type: 'start', now }))
  }

  /** Rebuilds a task from the journal by replay and carries on with it. */
  async resume(record: TaskRecord, spec: TaskSpec, specBytes: Uint8Array): Promise<void> {
    const id = record.taskId
    const claims = new Map<string, Claim>()
    for (const { peer, signed } of await this.journal.claims(id)) {
      try {
        claims.set(peer, await verifyClaim(signed, peer, this.components.network))
      } catch (err) {
        if (!(err instanceof InvalidClaimError)) throw err
      }
    }
    const journaled = { events: await this.journal.events(id), claims, awards: await this.journal.awards(id) }
    const machine = TaskMachine.restore(record, spec, this.#machineSettings, journaled, Date.now())
    await this.#enqueue(this.#add(machine, specBytes), (now) => ({ type: 'resume', now }))
  }

  #add(machine: TaskMachine, specBytes: Uint8Array, input?: Uint8Array): LiveTask {
    const live: LiveTask = {
      machine,
      specBytes,
      input: input != null && input.byteLength <= INLINE_INPUT_BYTES ? input : undefined,
      chain: Promise.resolve(),
      timers: new Map(),
      invited: new Set(),
      replies: new Map(),
    }
    this.#live.set(machine.taskId, live)
    return live
  }

  /** Puts an event on the task's queue; `make` runs when its turn comes, with the time then. */
  #enqueue(live: LiveTask, make: (now: number) => TaskEvent): Promise<void> {
    const next = live.chain
      .then(() => this.#handle(live, make(Date.now())))
      .catch((err: Error) => this.log.error('task %s: %s', live.machine.taskId, err.message))
    live.chain = next
    return next
  }

  async #handle(live: LiveTask, event: TaskEvent): Promise<void> {
    for (const effect of live.machine.handle(event)) await this.#carryOut(live, effect)
  }

  async #carryOut(live: LiveTask, e: TaskEffect): Promise<void> {
    const id = live.machine.taskId
    switch (e.type) {
      case 'journal':
        await this.#write(id, e.entry)
        break
      case 'reply': {
        const taskId = parseBlobCid(id).bytes
        const bytes =
          e.award != null
            ? BidReply.encode({
                taskId: ab(taskId),
                decision: BidReply.Decision.AWARD,
                reason: '',
                deadlineAt: e.award.deadlineAt,
                input: ab(live.input ?? new Uint8Array()),
              })
            : declineBytes(taskId, e.decline ?? 'declined')
        this.#reply(live, e.bidId, bytes)
        break
      }
      case 'ack':
        this.#reply(live, e.requestId, ClaimAck.encode({ ok: e.ok, reason: e.reason }))
        break
      case 'publish': {
        const { privateKey, network } = this.components
        const bytes = await signAnnouncement(privateKey, live.specBytes, e.round, e.cancelled, network)
        const invitees = e.cancelled ? [] : this.#invitees(live, e.round)
        if (invitees.length > 0) {
          for (const peer of invitees) {
            const signal = AbortSignal.timeout(INVITE_TIMEOUT_MS)
            this.transport
              .request(peer, INVITE_PROTOCOL, bytes, { maxReplyBytes: MAX_INVITE_REPLY_BYTES, signal })
              .catch((err: Error) => this.log('inviting %s to %s failed: %s', peer, id, err.message))
          }
          break
        }
        this.components.pubsub.publish(TASKS_TOPIC, bytes).catch((err: Error) => {
          this.log('announcing %s failed: %s', id, err.message)
        })
        break
      }
      case 'setTimer': {
        const name = timerName(e.timer)
        clearTimeout(live.timers.get(name))
        const fire = (): void => {
          live.timers.delete(name)
          void this.#enqueue(live, (now) => ({ type: 'timer', now, timer: e.timer, at: e.at }))
        }
        live.timers.set(name, setTimeout(fire, Math.max(0, e.at - Date.now())))
        break
      }
      case 'clearTimer': {
        const name = timerName(e.timer)
        clearTimeout(live.timers.get(name))
        live.timers.delete(name)
        break
      }
      case 'fetchOutput':
        void this.#checkOutput(live, e.peer, e.claim)
        break
      case 'plan': {
        const plan = this.settings.auto.plan(e.bestBidder)
        void this.#enqueue(live, (now) => ({ type: 'planned', now, plan }))
        break
      }
      case 'settle':
        await this.#settle(id, live.machine.view().record, live.machine.spec, e)
        break
      case 'emit':
        this.emit(e.event)
        break
      case 'finished':
        this.onFinished(e.record)
        break
      case 'forget':
        for (const t of live.timers.values()) clearTimeout(t)
        live.timers.clear()
        this.#live.delete(id)
        break
      case 'log':
        this.log('task %s: %s', id, e.message)
        break
    }
  }

  /**
   * The peers a round of this task is sent to instead of the gossip topic: 2·need + 3 candidates
   * from the capacity records known, never one invited before (docs/SCALE.md). None — gossip, as a
   * small mesh always did — when fewer capable peers are known than one round invites, or when
   * every known one was invited already.
   */
  #invitees(live: LiveTask, round: number): string[] {
    const { spec } = live.machine
    const now = Date.now()
    const self = this.components.peerId.toString()
    const capable = this.#known()
      .filter(
        (c) =>
          c.peerId !== self &&
          c.expiresAt > now &&
          c.memoryMB * MIB >= spec.memoryBytes &&
          c.price <= spec.maxPrice &&
          c.maxTasks > 0,
      )
      .map((c) => c.peerId)
    const count = invitationsFor(live.machine.view().need)
    if (capable.length < count) return []
    const chosen = chooseCandidates(live.machine.taskId, round, capable, count, live.invited)
    for (const p of chosen) live.invited.add(p)
    return chosen
  }

  async #write(taskId: string, entry: JournalEntry): Promise<void> {
    switch (entry.kind) {
      case 'task':
        await this.journal.putTask(entry.record)
        this.onRecord(entry.record)
        break
      case 'event':
        await this.journal.appendEvent(taskId, entry.seq, entry.event)
        break
      case 'award':
        await this.journal.putAward(taskId, entry.award)
        break
      case 'claim':
        await this.journal.putClaim(taskId, entry.peer, entry.signed)
        break
    }
  }

  #reply(live: LiveTask, requestId: number, bytes: Uint8Array): void {
    const reply = live.replies.get(requestId)
    live.replies.delete(requestId)
    reply?.resolve(bytes)
  }

  /**
   * Settlement: the ledger signs one receipt per executor, then the journal marks the task
   * settled. A crash in between leaves it unmarked, so a restart settles it again (the ledger
   * skips receipts it already holds). Adaptive replication learns from the verdicts afterwards.
   */
  async #settle(
    id: string,
    record: TaskRecord,
    spec: TaskSpec,
    e: Extract<TaskEffect, { type: 'settle' }>,
  ): Promise<void> {
    try {
      await this.settings.onSettled?.(settlementOf(record, spec, e.executors))
      await this.journal.markSettled(id)
    } catch (err) {
      this.log.error('task %s: settling: %s', id, (err as Error).message)
    }
    this.settings.auto
      .settle(e.verdicts, e.replicas)
      .catch((err: Error) => this.log.error('task %s: journaling runs: %s', id, err.message))
  }

  /**
   * Fetches the output a claim names from its executor; the blob layer checks it against its
   * hash. A failed path (the relay between us went away) is tried again a few times before the
   * output counts as unavailable; a mismatch is final at once.
   */
  async #checkOutput(live: LiveTask, peer: string, claim: Claim): Promise<void> {
    let outcome: 'ok' | 'mismatch' | 'unavailable' = 'unavailable'
    const signal = AbortSignal.timeout(OUTPUT_FETCH_TIMEOUT_MS)
    for (let attempt = 1; attempt <= OUTPUT_FETCH_ATTEMPTS && !signal.aborted; attempt++) {
      try {
        await this.components.blobs.fetch(claim.outputCid, {
          holders: [peerIdFromString(peer)],
          maxBytes: Math.max(1, live.machine.spec.maxOutputBytes),
          signal,
        })
        outcome = 'ok'
        break
      } catch (err) {
        outcome = (err as Error).name === 'BlobHashMismatchError' ? 'mismatch' : 'unavailable'
        this.log('output of %s from %s: %s', live.machine.taskId, peer, (err as Error).message)
        if (outcome === 'mismatch' || attempt === OUTPUT_FETCH_ATTEMPTS) break
        await new Promise((resolve) => setTimeout(resolve, OUTPUT_FETCH_RETRY_MS * 2 ** (attempt - 1)))
      }
    }
    await this.#enqueue(live, (now) => ({ type: 'outputChecked', now, peer, outcome }))
  }

  /** `/plusone/bid/1.0.0` request handler: resolves with the reply once the task's machine decides. */
  onBid(body: Uint8Array, from: RemotePeer, signal?: AbortSignal): Promise<Uint8Array> {
    const bid = Bid.decode(body)
    const { peer, address } = from
    let taskId: string
    try {
      taskId = parseBlobCid(bid.taskId).toString()
    } catch {
      return Promise.resolve(declineBytes(bid.taskId, 'bad task id'))
    }
    if ((this.#pendingBids.get(peer) ?? 0) >= MAX_PENDING_BIDS_PER_PEER) {
      this.emit({ type: 'bid', taskId, peer, decision: 'decline', reason: 'too many bids in flight' })
      return Promise.resolve(declineBytes(bid.taskId, 'too many bids in flight from this peer'))
    }
    const live = this.#live.get(taskId)
    if (live == null) {
      this.emit({ type: 'bid', taskId, peer, decision: 'decline', reason: 'unknown task' })
      return Promise.resolve(declineBytes(bid.taskId, 'unknown task'))
    }
    this.#pendingBids.set(peer, (this.#pendingBids.get(peer) ?? 0) + 1)
    let counted = true
    const uncount = (): void => {
      if (!counted) return
      counted = false
      const n = (this.#pendingBids.get(peer) ?? 1) - 1
      if (n > 0) this.#pendingBids.set(peer, n)
      else this.#pendingBids.delete(peer)
    }
    // the exchange's deadline frees the slot even if the task never answers
    signal?.addEventListener('abort', uncount, { once: true })
    return new Promise<Uint8Array>((resolve) => {
      const bidId = this.#nextRequestId++
      live.replies.set(bidId, {
        kind: 'bid',
        resolve: (reply) => {
          uncount()
          signal?.removeEventListener('abort', uncount)
          resolve(reply)
        },
      })
      void this.#enqueue(live, (now) => ({
        type: 'bid',
        now,
        bid: {
          bidId,
          peer,
          address,
          price: bid.price,
          latencyMs: 0,
          freeSlots: bid.freeSlots,
          round: bid.round,
        },
      }))
    })
  }

  /** `/plusone/result/1.0.0` request handler. */
  async onClaim(body: Uint8Array, from: RemotePeer): Promise<Uint8Array> {
    const { peer } = from
    let claim: Claim
    try {
      claim = await verifyClaim(body, peer, this.components.network)
      const known = this.#live.get(claim.taskId)
      if (known != null) checkClaimAgainstSpec(claim, known.machine.spec)
    } catch (err) {
      if (err instanceof InvalidClaimError) return ClaimAck.encode({ ok: false, reason: err.message })
      throw err
    }
    const live = this.#live.get(claim.taskId)
    if (live == null) return ClaimAck.encode({ ok: false, reason: 'unknown or settled task' })
    return new Promise<Uint8Array>((resolve) => {
      const requestId = this.#nextRequestId++
      live.replies.set(requestId, { kind: 'claim', resolve })
      void this.#enqueue(live, (now) => ({ type: 'claim', now, requestId, claim, signed: body }))
    })
  }

  /** Withdraws a task: no more awards, executors are told to drop it. */
  async cancel(taskId: string): Promise<void> {
    const live = this.#live.get(taskId)
    if (live != null) await this.#enqueue(live, (now) => ({ type: 'cancel', now }))
  }

  /** Periodic duties of every unfinished task: re-announce, report stuck, give up, expire. */
  tick(): void {
    const known = this.#known()
    for (const live of this.#live.values()) {
      if (live.machine.terminal) continue
      void this.#enqueue(live, (now) => ({ type: 'tick', now, known }))
    }
  }

  #known() {
    return this.components.capacity?.known() ?? []
  }

  stop(): void {
    for (const live of this.#live.values()) {
      for (const t of live.timers.values()) clearTimeout(t)
      live.timers.clear()
      const taskId = parseBlobCid(live.machine.taskId).bytes
      for (const r of live.replies.values())
        r.resolve(
          r.kind === 'bid'
            ? declineBytes(taskId, 'task finished')
            : ClaimAck.encode({ ok: false, reason: 'the submitter is stopping' }),
        )
      live.replies.clear()
    }
    this.#live.clear()
  }
}
