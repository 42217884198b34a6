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
