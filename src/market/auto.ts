/**
 * `replicas: 'auto'` on the submitter's side: the state that verification/adaptive.ts leaves to
 * its caller. Each executor's run of consecutive verified results is kept here and in the journal
 * (`run:<peerId>`), so trust survives a restart; it is updated from the verdicts of every settled
 * task of this node, replicated jobs included (a result a majority agreed with is verified
 * whichever job it came from).
 */
import {
  AdaptiveReplication,
  type AdaptiveReplicationInit,
  type ExecutorVerdict,
  type ReplicationPlan,
} from '../verification/index.js'
import type { Journal } from './journal.js'

/** Executors whose run is remembered; beyond it, the one with the shortest run is forgotten. */
export const MAX_TRACKED_EXECUTORS = 10_000

export class AutoReplication {
  readonly policy: AdaptiveReplication
  private readonly runs = new Map<string, number>()
  /** Journal writes, one after another, so the last write of a run is its latest value. */
  private writes: Promise<void> = Promise.resolve()

  constructor(
    private readonly journal: Journal,
    init: AdaptiveReplicationInit = {},
    private readonly random: () => number = Math.random,
  ) {
    this.policy = new AdaptiveReplication(init)
  }

  /** Reads the runs from the journal (on start). */
  async load(): Promise<void> {
    for (const [peer, run] of await this.journal.runs()) this.runs.set(peer, run)
  }

  /** The executor's run of consecutive verified results. */
  run(peer: string): number {
    return this.runs.get(peer) ?? 0
  }

  /** Plans one auto task whose best-ranked bidder is `bestBidder` (draws its spot-check value). */
  plan(bestBidder: string): ReplicationPlan {
    return this.policy.plan(bestBidder, this.run(bestBidder), this.random())
  }

  /**
   * Applies a settled task's verdicts to the runs at once; the promise is for journaling the
   * changed ones. A run lost to a crash before its write is a heuristic lost, nothing owed.
   * @param replicas - the replicas in force when the task settled (1 for a single-replica task)
   */
  settle(verdicts: readonly ExecutorVerdict[], replicas: number): Promise<void> {
    const changed: Array<[string, number]> = []
    for (const v of verdicts) {
      const before = this.run(v.peer)
      const after = this.policy.nextRun(before, v.verdict, replicas)
      if (after === before) continue
      if (!this.runs.has(v.peer) && this.runs.size >= MAX_TRACKED_EXECUTORS) this.forgetShortest()
      this.runs.set(v.peer, after)
      changed.push([v.peer, after])
    }
    if (changed.length === 0) return Promise.resolve()
    const write = this.writes.then(async () => {
      for (const [peer, run] of changed) await this.journal.putRun(peer, run)
    })
    this.writes = write.catch(() => undefined)
    return write
  }

  private forgetShortest(): void {
    let victim: string | undefined
    let shortest = Number.POSITIVE_INFINITY
    for (const [peer, run] of this.runs) {
      if (run < shortest) {
        shortest = run
        victim = peer
      }
    }
    if (victim !== undefined) this.runs.delete(victim)
  }
}
