/**
 * What a node remembers about announcements it has seen, so duplicates and replays are ignored:
 * the highest round per task id, until the task expires. Bounded: the oldest entries go first.
 */
import type { VerifiedAnnouncement } from './spec.js'

/** Tasks remembered for dedupe/replay. */
export const MAX_SEEN_TASKS = 20_000

export type Admission = 'new' | 'duplicate' | 'replay'

export class SeenAnnouncements {
  private readonly seen = new Map<string, { round: number; expiresAt: number }>()

  constructor(private readonly maxEntries = MAX_SEEN_TASKS) {}

  /**
   * Admits an announcement with a round higher than any seen for its task; the same round again is
   * a `duplicate`, a lower one a `replay`. Call only with verified (signed, unexpired) ones.
   */
  admit(a: VerifiedAnnouncement, now = Date.now()): Admission {
    const prev = this.seen.get(a.taskId)
    if (prev != null && prev.round === a.round) return 'duplicate'
    if (prev != null && prev.round > a.round) return 'replay'
    if (prev == null) this.evict(now)
    // re-insert so the map stays ordered by last admission
    this.seen.delete(a.taskId)
    this.seen.set(a.taskId, { round: a.round, expiresAt: a.spec.expiresAt })
    return 'new'
  }

  get size(): number {
    return this.seen.size
  }

  private evict(now: number): void {
    if (this.seen.size < this.maxEntries) return
    for (const [id, e] of this.seen) {
      if (e.expiresAt <= now) this.seen.delete(id)
    }
    while (this.seen.size >= this.maxEntries) {
      const oldest = this.seen.keys().next().value
      if (oldest === undefined) break
      this.seen.delete(oldest)
    }
  }
}

/** Announcements an executor keeps waiting for a free slot, in all. */
export const MAX_CANDIDATES = 1024
/** …and from any one submitter: one submitter's flood cannot fill the queue. */
export const MAX_CANDIDATES_PER_SUBMITTER = 256

/**
 * The executor's waiting announcements: one first-in-first-out queue per submitter, served
 * round-robin across submitters, so a submitter that announces a thousand tasks (or a flood of
 * junk) delays another submitter's next task by at most one bid per submitter ahead of it.
 * Bounded per submitter and in total; past a bound, that submitter's oldest waiting task goes.
 */
export class FairQueue {
  /** submitter → task id → announcement; map order is the round-robin order. */
  readonly #queues = new Map<string, Map<string, VerifiedAnnouncement>>()
  readonly #owner = new Map<string, string>()

  constructor(
    private readonly maxTotal = MAX_CANDIDATES,
    private readonly maxPerSubmitter = MAX_CANDIDATES_PER_SUBMITTER,
    /** The line an announcement waits in; one line for all (`() => ''`) is first-in-first-out. */
    private readonly lineOf: (a: VerifiedAnnouncement) => string = (a) => a.spec.submitter,
  ) {}

  get size(): number {
    return this.#owner.size
  }

  has(taskId: string): boolean {
    return this.#owner.has(taskId)
  }

  /** Queues (or refreshes) an announcement; returns how many waiting ones were dropped for room. */
  put(a: VerifiedAnnouncement): number {
    const submitter = this.lineOf(a)
    let queue = this.#queues.get(submitter)
    if (queue?.has(a.taskId)) {
      queue.set(a.taskId, a)
      return 0
    }
    let dropped = 0
    if (queue != null && queue.size >= this.maxPerSubmitter) {
      this.#dropOldestOf(submitter)
      dropped++
    }
    while (this.#owner.size >= this.maxTotal) {
      // room is taken from the submitter with the longest queue
      let longest: string | undefined
      for (const [s, q] of this.#queues)
        if (longest === undefined || q.size > (this.#queues.get(longest)?.size ?? 0)) longest = s
      if (longest === undefined) break
      this.#dropOldestOf(longest)
      dropped++
    }
    queue = this.#queues.get(submitter)
    if (queue == null) {
      queue = new Map()
      this.#queues.set(submitter, queue)
    }
    queue.set(a.taskId, a)
    this.#owner.set(a.taskId, submitter)
    return dropped
  }

  delete(taskId: string): void {
    const submitter = this.#owner.get(taskId)
    if (submitter === undefined) return
    this.#owner.delete(taskId)
    const queue = this.#queues.get(submitter)
    queue?.delete(taskId)
    if (queue?.size === 0) this.#queues.delete(submitter)
  }

  /** Drops everything waiting from `submitter`; returns how many. */
  dropSubmitter(submitter: string): number {
    const queue = this.#queues.get(submitter)
    if (queue == null) return 0
    for (const id of queue.keys()) this.#owner.delete(id)
    this.#queues.delete(submitter)
    return queue.size
  }

  /**
   * Takes the oldest announcement of the next submitter in turn (skipping those `skip` says to
   * pass over for now) and moves that submitter to the back of the line.
   */
  next(skip: (submitter: string) => boolean = () => false): VerifiedAnnouncement | undefined {
    for (const [submitter, queue] of this.#queues) {
      if (skip(submitter)) continue
      const first = queue.entries().next().value
      if (first === undefined) continue
      const [taskId, a] = first
      this.delete(taskId)
      const rest = this.#queues.get(submitter)
      if (rest != null) {
        // to the back of the round
        this.#queues.delete(submitter)
        this.#queues.set(submitter, rest)
      }
      return a
    }
    return undefined
  }

  clear(): void {
    this.#queues.clear()
    this.#owner.clear()
  }

  #dropOldestOf(submitter: string): void {
    const oldest = this.#queues.get(submitter)?.keys().next().value
    if (oldest !== undefined) this.delete(oldest)
  }
}
