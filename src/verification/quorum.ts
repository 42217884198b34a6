/**
 * The quorum state machine of one task (DESIGN.md §3 step 6).
 *
 * DETERMINISM CONTRACT — read this before changing anything in this file.
 *
 * A `QuorumTask` is a finite state machine fed by `start()` and `apply(event)`. Every decision it
 * returns must be a pure function of its init and the sequence of events applied so far:
 *
 *  - no clock: deadlines are timers in the caller, which reports `deadlineMissed`;
 *  - no randomness: randomness (spot checks) is decided by the caller and passed in as init;
 *  - no I/O, no logging, no promises, no globals; iteration only over arrays and insertion-ordered
 *    maps, so ties are always broken by the order in which events arrived.
 *
 * The daemon relies on this for crash safety: it journals every event before applying it, and on
 * restart replays the journal into a fresh `QuorumTask` to rebuild the exact same state and the
 * same decisions (decisions already carried out are recognised and skipped by the caller). A change
 * that makes two replays differ silently breaks recovery; the property tests replay every run.
 *
 * Input from remote peers (claims, missed deadlines) is never trusted: an event that does not fit
 * the state (a claim from a peer that was not awarded, a second claim, a claim after the deadline)
 * produces an `ignored` decision and changes nothing. Only caller bugs throw `QuorumUsageError`.
 */
import { InvalidQuorumOptionsError, QuorumUsageError } from './errors.js'
import { describeFailure, type FailureTally } from './reason.js'
import type {
  ExecutorVerdict,
  QuorumDecision,
  QuorumEvent,
  QuorumInit,
  QuorumPhase,
  QuorumSnapshot,
  Verdict,
} from './types.js'

type ExecutionStatus = 'running' | 'claimed' | 'timed_out' | 'declined' | 'discredited'

interface Execution {
  readonly peer: string
  status: ExecutionStatus
  resultHash?: string
  /** Output fetch from this member came back `unavailable` while its group was a candidate. */
  unavailable: boolean
  verdict?: Verdict
}

/** Longest result hash accepted in a claim (a base32 CIDv1 of sha256 is 59 characters). */
export const MAX_RESULT_HASH_CHARS = 128

/** Smallest number of identical claims that is a strict majority of `replicas`. */
export function quorumSize(replicas: number): number {
  return Math.floor(replicas / 2) + 1
}

/** Most wrong or silent executors per task that replication with `replicas` tolerates. */
export function toleratedFaults(replicas: number): number {
  return Math.floor((replicas - 1) / 2)
}

function checkCount(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidQuorumOptionsError(`${name} must be an integer ≥ ${min}, got ${value}`)
  }
}

/**
 * One task's verification. Create it, call `start()`, carry out the decisions it returns, and feed
 * every outcome back with `apply()`. See the determinism contract at the top of this file and the
 * majority rule in `index.ts`.
 */
export class QuorumTask {
  #replicas: number
  readonly #fallbackReplicas: number | undefined
  readonly #maxExecutions: number
  #phase: QuorumPhase = 'new'
  readonly #executions = new Map<string, Execution>()
  #pendingAwards = 0
  #candidate: string | undefined
  #fetchingFrom: string | undefined
  #acceptedHash: string | undefined
  #failureReason: string | undefined
  #settled = false

  constructor(init: QuorumInit) {
    checkCount('replicas', init.replicas, 1)
    if (init.fallbackReplicas !== undefined) {
      checkCount('fallbackReplicas', init.fallbackReplicas, 1)
      if (init.replicas !== 1) throw new InvalidQuorumOptionsError('fallbackReplicas needs replicas = 1')
    }
    this.#replicas = init.replicas
    this.#fallbackReplicas = init.fallbackReplicas
    const widest = Math.max(init.replicas, init.fallbackReplicas ?? 0)
    this.#maxExecutions = init.maxExecutions ?? 2 * widest + 1
    checkCount('maxExecutions', this.#maxExecutions, widest)
  }

  get phase(): QuorumPhase {
    return this.#phase
  }

  /** The replica count in force (it grows once if a single-replica task falls back). */
  get replicas(): number {
    return this.#replicas
  }

  get maxExecutions(): number {
    return this.#maxExecutions
  }

  /** Peers awarded so far plus awards requested and not yet filled; never above `maxExecutions`. */
  get executionsCommitted(): number {
    return this.#executions.size + this.#pendingAwards
  }

  snapshot(): QuorumSnapshot {
    const groups = this.#groups()
    return {
      phase: this.#phase,
      replicas: this.#replicas,
      quorum: quorumSize(this.#replicas),
      maxExecutions: this.#maxExecutions,
      awarded: [...this.#executions.keys()],
      pendingAwards: this.#pendingAwards,
      running: this.#count('running'),
      groups: [...groups].map(([resultHash, members]) => ({ resultHash, members })),
      acceptedHash: this.#acceptedHash,
      failureReason: this.#failureReason,
      verdicts: this.#verdicts(),
      settled: this.#settled,
    }
  }

  /** Begins the task: asks for `replicas` awards. Call exactly once, before any `apply`. */
  start(): QuorumDecision[] {
    if (this.#phase !== 'new') throw new QuorumUsageError('start() was already called')
    this.#phase = 'collecting'
    this.#pendingAwards = this.#replicas
    return [{ type: 'award', count: this.#replicas, exclude: [] }]
  }

  apply(event: QuorumEvent): QuorumDecision[] {
    if (this.#phase === 'new') throw new QuorumUsageError(`${event.type} applied before start()`)
    const out: QuorumDecision[] = []
    let ignored: string | undefined
    switch (event.type) {
      case 'awarded':
        this.#onAwarded(event.peer)
        break
      case 'claim':
        ignored = this.#onClaim(event.peer, event.resultHash, out)
        break
      case 'deadlineMissed':
      case 'declined':
        ignored = this.#onGone(event.peer, event.type === 'declined' ? 'declined' : 'timed_out', out)
        break
      case 'outputChecked':
        this.#onOutputChecked(event.peer, event.outcome, out)
        break
      case 'abort':
        if (this.#terminal()) ignored = 'abort after the task finished'
        else this.#fail(event.reason, out)
        break
    }
    if (ignored !== undefined) return [{ type: 'ignored', reason: ignored }]
    if (!this.#terminal()) this.#advance(out)
    this.#settle(out)
    return out
  }

  #onAwarded(peer: string): void {
    if (this.#pendingAwards === 0) {
      throw new QuorumUsageError(`awarded ${peer} but no award was requested`)
    }
    if (this.#executions.has(peer)) {
      throw new QuorumUsageError(`awarded ${peer} twice; a peer may execute a task only once`)
    }
    this.#pendingAwards--
    this.#executions.set(peer, { peer, status: 'running', unavailable: false })
  }

  /** Records a claim; returns why it was ignored, if it was. */
  #onClaim(peer: string, resultHash: string, out: QuorumDecision[]): string | undefined {
    const e = this.#executions.get(peer)
    if (e === undefined) return `claim from ${peer}, never awarded`
    if (e.status !== 'running') return `claim from ${peer} whose execution is ${e.status}`
    if (resultHash.length === 0 || resultHash.length > MAX_RESULT_HASH_CHARS) {
      return `claim from ${peer} with a result hash of ${resultHash.length} characters`
    }
    e.status = 'claimed'
    e.resultHash = resultHash
    if (this.#phase === 'accepted') {
      this.#decide(e, resultHash === this.#acceptedHash ? 'accepted' : 'rejected', out)
    } else if (this.#phase === 'failed') {
      this.#decide(e, 'rejected', out)
    }
    return undefined
  }

  /** Records a missed deadline or a decline; returns why it was ignored, if it was. */
  #onGone(peer: string, status: 'timed_out' | 'declined', out: QuorumDecision[]): string | undefined {
    const e = this.#executions.get(peer)
    if (e?.status !== 'running') return `${status} for ${peer}, which is not running`
    e.status = status
    this.#decide(e, 'timed_out', out)
    return undefined
  }

  #onOutputChecked(peer: string, outcome: 'ok' | 'mismatch' | 'unavailable', out: QuorumDecision[]): void {
    if (this.#fetchingFrom !== peer) {
      throw new QuorumUsageError(`output check reported for ${peer}, but none was requested from it`)
    }
    this.#fetchingFrom = undefined
    const e = this.#executions.get(peer)!
    if (outcome === 'ok') {
      this.#phase = 'accepted'
      this.#acceptedHash = this.#candidate
      const members = this.#members(this.#candidate!)
      out.push({ type: 'accept', resultHash: this.#candidate!, members, outputFrom: peer })
      for (const x of this.#executions.values()) {
        if (x.status === 'claimed')
          this.#decide(x, x.resultHash === this.#acceptedHash ? 'accepted' : 'rejected', out)
      }
      return
    }
    if (outcome === 'mismatch') {
      // It served bytes that do not hash to what it claimed: provably wrong, whatever the others say.
      e.status = 'discredited'
      this.#decide(e, 'rejected', out)
    } else {
      e.unavailable = true
    }
  }

  /** Moves a non-terminal task forward: fetch from a candidate group, award more, or give up. */
  #advance(out: QuorumDecision[]): void {
    if (this.#fetchingFrom !== undefined) return
    if (this.#candidate !== undefined && this.#tryFetch(out)) return
    for (;;) {
      this.#maybeFallBack()
      const q = quorumSize(this.#replicas)
      let best: [string, string[]] | undefined
      for (const g of this.#groups()) if (best === undefined || g[1].length > best[1].length) best = g
      const largest = best?.[1].length ?? 0
      if (best !== undefined && largest >= q) {
        this.#candidate = best[0]
        this.#phase = 'fetching'
        if (this.#tryFetch(out)) return
        continue
      }
      const outstanding = this.#count('running') + this.#pendingAwards
      const need = q - largest - outstanding
      if (need <= 0) return
      const budget = this.#maxExecutions - this.executionsCommitted
      if (need > budget) {
        this.#fail(describeFailure(this.#tally(), this.#replicas, q), out)
        return
      }
      this.#pendingAwards += need
      out.push({ type: 'award', count: need, exclude: [...this.#executions.keys()] })
      return
    }
  }

  /**
   * Asks the next member of the candidate group for the output. Returns false, and drops the
   * candidate, when the group no longer holds a majority (a member served a mismatching output) or
   * when every member failed to serve it; in that last case none of them delivered (`timed_out`).
   */
  #tryFetch(out: QuorumDecision[]): boolean {
    const candidate = this.#candidate!
    const members = this.#members(candidate)
    if (members.length >= quorumSize(this.#replicas)) {
      const next = members.find((p) => !this.#executions.get(p)!.unavailable)
      if (next !== undefined) {
        this.#fetchingFrom = next
        out.push({ type: 'fetchOutput', peer: next, resultHash: candidate })
        return true
      }
      for (const p of members) {
        const e = this.#executions.get(p)!
        e.status = 'discredited'
        this.#decide(e, 'timed_out', out)
      }
    }
    this.#candidate = undefined
    this.#phase = 'collecting'
    return false
  }

  /** A single-replica (adaptive) task whose one executor did not deliver is re-run replicated. */
  #maybeFallBack(): void {
    if (this.#fallbackReplicas === undefined || this.#replicas !== 1) return
    for (const e of this.#executions.values()) {
      if (
        e.status === 'timed_out' ||
        e.status === 'declined' ||
        e.status === 'discredited' ||
        e.unavailable
      ) {
        this.#replicas = this.#fallbackReplicas
        return
      }
    }
  }

  #fail(reason: string, out: QuorumDecision[]): void {
    this.#phase = 'failed'
    this.#failureReason = reason
    this.#pendingAwards = 0
    this.#candidate = undefined
    this.#fetchingFrom = undefined
    out.push({ type: 'fail', reason })
    for (const e of this.#executions.values()) if (e.status === 'claimed') this.#decide(e, 'rejected', out)
  }

  #settle(out: QuorumDecision[]): void {
    if (this.#settled || !this.#terminal() || this.#count('running') > 0) return
    this.#settled = true
    out.push({ type: 'settled', verdicts: this.#verdicts() })
  }

  #decide(e: Execution, verdict: Verdict, out: QuorumDecision[]): void {
    if (e.verdict !== undefined) return
    e.verdict = verdict
    out.push({ type: 'verdict', peer: e.peer, verdict, resultHash: e.resultHash })
  }

  #terminal(): boolean {
    return this.#phase === 'accepted' || this.#phase === 'failed'
  }

  #count(status: ExecutionStatus): number {
    let n = 0
    for (const e of this.#executions.values()) if (e.status === status) n++
    return n
  }

  #groups(): Map<string, string[]> {
    const groups = new Map<string, string[]>()
    for (const e of this.#executions.values()) {
      if (e.status !== 'claimed' || e.resultHash === undefined) continue
      const g = groups.get(e.resultHash)
      if (g === undefined) groups.set(e.resultHash, [e.peer])
      else g.push(e.peer)
    }
    return groups
  }

  #members(resultHash: string): string[] {
    return this.#groups().get(resultHash) ?? []
  }

  #verdicts(): ExecutorVerdict[] {
    const list: ExecutorVerdict[] = []
    for (const e of this.#executions.values()) {
      if (e.verdict !== undefined) list.push({ peer: e.peer, verdict: e.verdict, resultHash: e.resultHash })
    }
    return list
  }

  #tally(): FailureTally {
    const hashes = new Set<string>()
    let timedOut = 0
    let declined = 0
    let discredited = 0
    for (const e of this.#executions.values()) {
      if (e.resultHash !== undefined && e.status === 'claimed') hashes.add(e.resultHash)
      if (e.status === 'timed_out') timedOut++
      if (e.status === 'declined') declined++
      if (e.status === 'discredited') discredited++
    }
    return {
      executions: this.#executions.size,
      results: hashes.size,
      timedOut,
      declined,
      discredited,
      running: this.#count('running'),
      limit: this.#maxExecutions,
    }
  }
}
