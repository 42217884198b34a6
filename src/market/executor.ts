/**
 * The executor side: decide with the policy, bid, and run only what was awarded.
 *
 * Announcements this node could run but has no free slot for wait in a bounded queue and are bid
 * on when a slot frees, so a busy mesh pulls work instead of the submitter re-announcing it.
 *
 * Fairness under floods (issue 11): the queue is round-robin across submitters and bounded per
 * submitter ({@link FairQueue}); a bid waits {@link BID_REPLY_TIMEOUT_MS} at most; a submitter
 * that has never answered a bid gets one bid in flight at a time (one that has, at most
 * {@link MAX_BIDS_IN_FLIGHT_PER_SUBMITTER}), and is dropped — its waiting
 * tasks and new announcements ignored — for {@link SHUN_MS} (doubling on each repeat) once it
 * leaves {@link MAX_UNANSWERED_BIDS} bids in a row unanswered.
 */
import { createHash } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import type { Logger, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { anySignal } from 'any-signal'
import { MAX_MODULE_BYTES } from '../runtime/index.js'
import { Bid, BidReply, ClaimAck } from '../pb/market.js'
import { DEFAULT_AUTO_REPLICAS } from '../verification/index.js'
import { FairQueue, MAX_CANDIDATES } from './announce.js'
import { DEADLINE_GRACE_MS } from './task-machine.js'
import { AUTO_REPLICAS, ab, type Claim, resultHashOf, signClaim, type VerifiedAnnouncement } from './spec.js'
import { type BlobCache, type BlobCid, blobCidOf } from '../blobs/index.js'
import {
  type ExecutorPolicy,
  INFLATED_FUEL,
  type MarketComponents,
  type MarketEvent,
  TASKS_TOPIC,
} from './types.js'
import type { MarketTransport } from './transport.js'
import { BID_PROTOCOL, MAX_REPLY_BYTES, RESULT_PROTOCOL } from './wire.js'

/** Task ids remembered as executed, never bid on again. */
export const MAX_EXECUTED_IDS = 20_000
/**
 * How long a bid waits for the submitter's reply. A submitter's bid window closes within 100 ms
 * of the first bid, but a busy node (dozens of nodes in one test process) can take seconds to
 * open the first stream; on main this was 5 s.
 */
export const BID_REPLY_TIMEOUT_MS = 3_000
/**
 * Unanswered bids in a row after which a submitter that has never answered one is dropped for a
 * while. A submitter that answered before is never dropped for being slow.
 */
export const MAX_UNANSWERED_BIDS = 3
/** How long a submitter that left bids unanswered is dropped; doubles per repeat, up to 16×. */
export const SHUN_MS = 30_000
/**
 * Bids this executor keeps in flight to one submitter, however many slots it has: a submitter
 * that answered once and then stalls holds at most this many of them for a bid timeout.
 */
export const MAX_BIDS_IN_FLIGHT_PER_SUBMITTER = 4
/** Submitters whose answering record is kept; the least recently seen are forgotten. */
export const MAX_TRACKED_SUBMITTERS = 4096
/** Largest input an executor fetches. */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024
/**
 * A claim is retried after 0.25, 0.5, 1, 2, 4, 4, 4 s: a home submitter whose relay went away
 * is reached again through its other relay (or a new one) within that.
 */
const CLAIM_ATTEMPTS = 8
const CLAIM_BACKOFF_MS = 250
const MAX_RETRY_BACKOFF_MS = 4_000
/** A blob fetch is retried (25 ms, doubling up to 4 s) until the award's deadline, at most this often. */
const FETCH_ATTEMPTS = 16
const FETCH_BACKOFF_MS = 25
/** A bid whose stream failed (not timed out) is sent again after 0.5 and 1 s. */
const BID_ATTEMPTS = 3
const BID_RETRY_MS = 500
/**
 * First-round announcements are bid on with a probability that expects this many bids per
 * replica, plus BID_SPARE: without the spare, a k=1 task on a 10-node mesh got no bid at all
 * one time in ten ((1 − 2/9)^9) and waited a second for its re-announcement.
 */
export const BID_OVERSUBSCRIPTION = 2
export const BID_SPARE = 3
const MIB = 1024 * 1024

export interface ExecutorStats {
  executed: number
  bidsSent: number
  awardsWon: number
  claimsSent: number
  /** Announcements not bid on because of a flood limit or a dropped submitter. */
  announcementsDropped: number
  /** Times a submitter was dropped for leaving bids unanswered. */
  submittersDropped: number
}

/** What an executor remembers of a submitter's answering. */
interface SubmitterRecord {
  /** It answered a bid (award or decline) at least once. */
  answered: boolean
  inFlight: number
  unanswered: number
  droppedUntil: number
  drops: number
}

/** What a bid waited for its reply before issue 11 (the baseline of bench/hostile.ts). */
const UNDEFENDED_BID_REPLY_TIMEOUT_MS = 5_000

export class Executor {
  private readonly candidates: FairQueue
  private readonly defended: boolean
  private readonly submitters = new Map<string, SubmitterRecord>()
  private readonly executedIds = new Set<string>()
  private readonly bidding = new Set<string>()
  private readonly running = new Map<string, AbortController>()
  private readonly policy: Required<Omit<ExecutorPolicy, 'fault' | 'admit' | 'floodDefence'>> &
    Pick<ExecutorPolicy, 'fault' | 'admit'>
  private readonly self: string
  private shutdown = new AbortController()
  readonly stats: ExecutorStats = {
    executed: 0,
    bidsSent: 0,
    awardsWon: 0,
    claimsSent: 0,
    announcementsDropped: 0,
    submittersDropped: 0,
  }

  constructor(
    private readonly components: MarketComponents,
    private readonly transport: MarketTransport,
    policy: ExecutorPolicy,
    private readonly log: Logger,
    private readonly emit: (e: MarketEvent) => void,
    /** Bounds what this node keeps of others' blobs; without it they are kept forever. */
    private readonly cache?: BlobCache,
  ) {
    this.self = components.peerId.toString()
    this.defended = policy.floodDefence ?? true
    this.candidates = this.defended
      ? new FairQueue()
      : new FairQueue(MAX_CANDIDATES, MAX_CANDIDATES, () => '')
    this.policy = {
      enabled: policy.enabled ?? true,
      maxTasks: policy.maxTasks ?? 1,
      memoryMB: policy.memoryMB ?? 256,
      price: policy.price ?? 0,
      fault: policy.fault,
      admit: policy.admit,
    }
  }

  start(): void {
    this.shutdown = new AbortController()
    // every bid, run and claim listens to it (anySignal), each until it is done
    setMaxListeners(Number.POSITIVE_INFINITY, this.shutdown.signal)
  }

  stop(): void {
    this.shutdown.abort()
    for (const c of this.running.values()) c.abort()
    this.candidates.clear()
  }

  private get busy(): number {
    return this.bidding.size + this.running.size
  }

  /** Why this node would not run the task, or undefined when it would. */
  refusal(a: VerifiedAnnouncement): string | undefined {
    const { spec } = a
    if (!this.policy.enabled) return 'not executing'
    if (spec.submitter === this.self) return 'own task'
    if (spec.memoryBytes > this.policy.memoryMB * MIB) return 'needs more memory than offered'
    if (spec.maxPrice < this.policy.price) return 'max price below our ask'
    if (this.executedIds.has(a.taskId)) return 'already executed'
    if (this.isDropped(spec.submitter)) return 'the submitter left our bids unanswered'
    return this.policy.admit?.(spec.submitter)
  }

  private record(submitter: string): SubmitterRecord {
    let r = this.submitters.get(submitter)
    if (r == null) {
      r = { answered: false, inFlight: 0, unanswered: 0, droppedUntil: 0, drops: 0 }
      if (this.submitters.size >= MAX_TRACKED_SUBMITTERS) {
        for (const [k, v] of this.submitters) {
          if (v.inFlight > 0) continue
          this.submitters.delete(k)
          break
        }
      }
    } else this.submitters.delete(submitter)
    this.submitters.set(submitter, r) // most recently seen last
    return r
  }

  private isDropped(submitter: string): boolean {
    if (!this.defended) return false
    return (this.submitters.get(submitter)?.droppedUntil ?? 0) > Date.now()
  }

  /**
   * A submitter that never answered a bid gets one bid in flight at a time; one that did, at most
   * {@link MAX_BIDS_IN_FLIGHT_PER_SUBMITTER}.
   */
  private mustWait(submitter: string): boolean {
    if (!this.defended) return false
    const r = this.submitters.get(submitter)
    return r != null && r.inFlight >= (r.answered ? MAX_BIDS_IN_FLIGHT_PER_SUBMITTER : 1)
  }

  private answered(submitter: string): void {
    const r = this.record(submitter)
    r.answered = true
    r.unanswered = 0
  }

  private unanswered(submitter: string): void {
    if (!this.defended) return
    const r = this.record(submitter)
    if (r.answered) return
    r.unanswered++
    if (r.unanswered < MAX_UNANSWERED_BIDS) return
    r.unanswered = 0
    r.droppedUntil = Date.now() + SHUN_MS * 2 ** Math.min(4, r.drops)
    r.drops++
    this.stats.submittersDropped++
    this.stats.announcementsDropped += this.candidates.dropSubmitter(submitter)
    this.log('dropped submitter %s: it left %d bids unanswered', submitter, MAX_UNANSWERED_BIDS)
  }

  /**
   * A verified, admitted announcement arrived: by gossip, or as an invitation (`invited`), which
   * is bid on whenever the policy allows — the submitter invited only as many as it wants bids.
   */
  onAnnouncement(a: VerifiedAnnouncement, invited = false): void {
    if (a.cancelled) {
      this.candidates.delete(a.taskId)
      // an abandoned task's output will not be fetched
      void this.cache
        ?.release(a.taskId)
        .catch((err: Error) => this.log('collecting %s: %s', a.taskId, err.message))
      const run = this.running.get(a.taskId)
      if (run != null) {
        run.abort(new Error('cancelled by the submitter'))
        this.emit({ type: 'dropped', taskId: a.taskId, reason: 'cancelled by the submitter' })
      }
      return
    }
    if (this.bidding.has(a.taskId) || this.running.has(a.taskId)) return
    if (this.refusal(a) !== undefined) {
      if (this.isDropped(a.spec.submitter)) this.stats.announcementsDropped++
      return
    }
    // On a first round, leave some tasks to the others: fewer bid streams, same choice for the
    // submitter. Later rounds (re-announcements, reissues) are bid on by everyone who can.
    const replicas = a.spec.replicas === AUTO_REPLICAS ? DEFAULT_AUTO_REPLICAS : a.spec.replicas
    if (!invited && a.round <= 1 && Math.random() >= this.bidProbability(replicas)) return
    this.stats.announcementsDropped += this.candidates.put(a)
    this.pump()
  }

  private bidProbability(replicas: number): number {
    const subscribers = this.components.pubsub.getSubscribers?.(TASKS_TOPIC).length
    if (subscribers == null) return 1
    // the submitter is among the subscribers
    return Math.min(1, (BID_OVERSUBSCRIPTION * replicas + BID_SPARE) / Math.max(1, subscribers - 1))
  }

  /** Bids on waiting candidates while slots are free. */
  private pump(): void {
    const now = Date.now()
    while (this.busy < this.policy.maxTasks && !this.shutdown.signal.aborted) {
      const a = this.candidates.next((s) => this.mustWait(s))
      if (a === undefined) return
      const taskId = a.taskId
      if (a.spec.expiresAt <= now || this.refusal(a) !== undefined) continue
      this.bidding.add(taskId)
      const r = this.record(a.spec.submitter)
      r.inFlight++
      let inFlight = true
      // the bid is no longer in flight once answered, even while the awarded task runs
      const answered = (): void => {
        if (!inFlight) return
        inFlight = false
        r.inFlight--
      }
      void this.bid(a, answered).finally(() => {
        answered()
        this.bidding.delete(taskId)
        this.pump()
      })
    }
  }

  private async bid(a: VerifiedAnnouncement, answered: () => void): Promise<void> {
    const timeoutMs = this.defended ? BID_REPLY_TIMEOUT_MS : UNDEFENDED_BID_REPLY_TIMEOUT_MS
    const submitter = peerIdFromString(a.spec.submitter)
    let reply: BidReply | undefined
    for (let attempt = 1; reply === undefined; attempt++) {
      // not AbortSignal.any: on Node 20 it lets a timeout signal be collected before it fires, and
      // a bid to a silent submitter then waits for ever (test/hostile/bid-caps.test.ts caught it)
      const signal = anySignal([this.shutdown.signal, AbortSignal.timeout(timeoutMs)])
      try {
        if (attempt === 1) this.stats.bidsSent++
        const body = Bid.encode({
          taskId: ab(a.taskIdBytes),
          round: a.round,
          price: this.policy.price,
          freeSlots: Math.max(0, this.policy.maxTasks - this.busy),
          memoryMb: this.policy.memoryMB,
        })
        reply = BidReply.decode(
          await this.transport.request(a.spec.submitter, BID_PROTOCOL, body, {
            maxReplyBytes: MAX_REPLY_BYTES,
            signal,
          }),
        )
      } catch (err) {
        this.log('bid on %s to %p failed: %s', a.taskId, submitter, (err as Error).message)
        // silence counts against a submitter; a reset or refused stream does not (a restarting
        // submitter, or the relay between us went away: its award reply may be lost with it,
        // and a repeated bid gets that award again), so it is tried again a few times
        if (signal.aborted && !this.shutdown.signal.aborted) this.unanswered(a.spec.submitter)
        if (signal.aborted || attempt >= BID_ATTEMPTS || a.spec.expiresAt <= Date.now()) return
        try {
          await delayUntil(Date.now() + BID_RETRY_MS * 2 ** (attempt - 1), this.shutdown.signal)
        } catch {
          return
        }
      } finally {
        signal.clear()
      }
    }
    this.answered(a.spec.submitter)
    answered()
    if (reply.decision !== BidReply.Decision.AWARD) {
      this.log.trace('bid on %s declined: %s', a.taskId, reply.reason)
      return
    }
    this.stats.awardsWon++
    this.executedIds.add(a.taskId)
    if (this.executedIds.size > MAX_EXECUTED_IDS) {
      const oldest = this.executedIds.values().next().value
      if (oldest !== undefined) this.executedIds.delete(oldest)
    }
    const controller = new AbortController()
    this.running.set(a.taskId, controller)
    this.bidding.delete(a.taskId)
    this.pump()
    try {
      await this.execute(a, submitter, reply, AbortSignal.any([controller.signal, this.shutdown.signal]))
    } catch (err) {
      this.log('task %s: %s', a.taskId, (err as Error).message)
    } finally {
      this.running.delete(a.taskId)
    }
  }

  /** Fetches a blob from the submitter, retrying (a busy holder answers BUSY) until the deadline. */
  private async fetch(
    cid: BlobCid,
    holder: PeerId,
    maxBytes: number,
    signal: AbortSignal,
  ): Promise<Uint8Array> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.components.blobs.fetch(cid, { holders: [holder], maxBytes, signal })
        const bytes = await this.components.blobStore.get(cid)
        await this.cache?.stored(cid.toString(), bytes.byteLength)
        return bytes
      } catch (err) {
        if (signal.aborted || attempt >= FETCH_ATTEMPTS) throw err
        const backoffMs =
          Math.min(MAX_RETRY_BACKOFF_MS, FETCH_BACKOFF_MS * 2 ** attempt) * (0.5 + Math.random())
        await delayUntil(Date.now() + backoffMs, signal)
      }
    }
  }

  private async execute(
    a: VerifiedAnnouncement,
    submitter: PeerId,
    award: BidReply,
    signal: AbortSignal,
  ): Promise<void> {
    const { spec } = a
    const fault = this.policy.fault
    if (fault === 'silent') return
    const deadlineAt = award.deadlineAt
    // the submitter counts a miss only at deadline + grace: work on until then, not a moment less
    const runSignal = anySignal([
      signal,
      AbortSignal.timeout(Math.max(1, deadlineAt + DEADLINE_GRACE_MS - Date.now())),
    ])
    const inline =
      award.input.byteLength > 0 && equal(digestBytes(award.input), spec.inputCid.multihash.digest)
    // pinned (and recorded) before they are fetched: never evicted while this task runs
    const pins = [spec.moduleCid.toString(), ...(inline ? [] : [spec.inputCid.toString()])]
    await this.cache?.pin(pins[0], 'module')
    if (pins.length > 1) await this.cache?.pin(pins[1], 'input')
    let outcome: Awaited<ReturnType<MarketComponents['runtime']['run']>>
    try {
      outcome = await this.run(a, submitter, inline ? award.input : undefined, runSignal)
    } finally {
      runSignal.clear()
      for (const cid of pins) await this.cache?.unpin(cid)
      if (pins.length > 1) await this.cache?.finishedInput(pins[1])
    }
    this.stats.executed++
    this.emit({ type: 'executed', taskId: a.taskId, status: outcome.status })
    let output = outcome.output
    if (fault === 'wrong-output') output = digest(`wrong/${this.self}/${a.taskId}`)
    if (fault === 'collude') output = digest(`collude/${a.taskId}`)
    // the output is kept until this node holds the task's receipt (every award is settled, even
    // a refused or late claim's) or the task is cancelled or expires: a claim whose reply was
    // lost may still be fetched
    await this.claim(a, outcome, output, deadlineAt, signal)
  }

  /** Fetches the module (and the input unless it came inline) and runs the task. */
  private async run(
    a: VerifiedAnnouncement,
    submitter: PeerId,
    inlineInput: Uint8Array | undefined,
    runSignal: AbortSignal,
  ): ReturnType<MarketComponents['runtime']['run']> {
    const { spec } = a
    const [module, input] = await Promise.all([
      this.fetch(spec.moduleCid, submitter, MAX_MODULE_BYTES, runSignal),
      inlineInput ?? this.fetch(spec.inputCid, submitter, MAX_INPUT_BYTES, runSignal),
    ])
    return this.components.runtime.run({
      module,
      moduleKey: spec.moduleCid.toString(),
      input,
      taskId: a.taskIdBytes,
      limits: { fuel: BigInt(spec.fuel), memoryBytes: spec.memoryBytes, maxOutputBytes: spec.maxOutputBytes },
      signal: runSignal,
    })
  }

  /** Stores the output (held in the cache for the task), signs the claim and sends it. */
  private async claim(
    a: VerifiedAnnouncement,
    outcome: Awaited<ReturnType<MarketComponents['runtime']['run']>>,
    output: Uint8Array,
    deadlineAt: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { spec } = a
    const fault = this.policy.fault
    const { blobStore } = this.components
    const cache = this.cache
    const outputKey = blobCidOf(output).toString()
    // recorded before it is written; kept until the task is settled, or abandoned at its expiry
    await cache?.pin(outputKey, 'output', {
      taskId: a.taskId,
      submitter: spec.submitter,
      until: spec.expiresAt,
    })
    let outputCid: BlobCid
    try {
      outputCid = await blobStore.put(output)
      await cache?.stored(outputKey, output.byteLength)
    } finally {
      await cache?.unpin(outputKey)
    }
    const claim: Claim = {
      taskId: a.taskId,
      executor: this.self,
      status: outcome.status,
      code: outcome.code,
      fuelUsed: fault === 'inflate-fuel' ? INFLATED_FUEL : Number(outcome.fuelUsed),
      outputHash: outputCid.multihash.digest,
      outputCid,
      outputBytes: output.byteLength,
      resultHash: '',
    }
    claim.resultHash = resultHashOf(claim)
    const signed = await signClaim(this.components.privateKey, claim, this.components.network)
    if (fault === 'slow') await delayUntil(deadlineAt + 100, signal)
    for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt++) {
      const attemptSignal = anySignal([signal, AbortSignal.timeout(BID_REPLY_TIMEOUT_MS)])
      try {
        const reply = await this.transport.request(a.spec.submitter, RESULT_PROTOCOL, signed, {
          maxReplyBytes: MAX_REPLY_BYTES,
          signal: attemptSignal,
        })
        const ack = ClaimAck.decode(reply)
        this.stats.claimsSent++
        if (!ack.ok) this.log('claim for %s refused: %s', a.taskId, ack.reason)
        return
      } catch (err) {
        if (signal.aborted || attempt === CLAIM_ATTEMPTS) throw err
        await delayUntil(
          Date.now() + Math.min(MAX_RETRY_BACKOFF_MS, CLAIM_BACKOFF_MS * 2 ** (attempt - 1)),
          signal,
        )
      } finally {
        attemptSignal.clear()
      }
    }
  }
}

function digestBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i])
}

function digest(text: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(text).digest())
}

async function delayUntil(at: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, Math.max(0, at - Date.now()))
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t)
        reject(signal.reason)
      },
      { once: true },
    )
  })
}
