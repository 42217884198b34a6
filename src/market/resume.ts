/**
 * Resume after a restart: rebuild an unfinished task from the journal by replaying its quorum
 * events into a fresh QuorumTask (deterministic, see verification/quorum.ts), then carry on —
 * restart deadline timers for executors still running, re-check an output whose check was
 * interrupted, and re-announce if awards are still wanted.
 */
import type { QuorumDecision } from '../verification/index.js'
import { InvalidClaimError } from './errors.js'
import type { Journal } from './journal.js'
import type { NetworkId } from '../network/index.js'
import { verifyClaim } from './spec.js'
import type { LiveTask, Submitter } from './submitter.js'

export async function restoreTask(
  submitter: Submitter,
  live: LiveTask,
  journal: Journal,
  network?: NetworkId,
): Promise<void> {
  const id = live.record.taskId
  // an `auto` task that never closed a bid window has no quorum yet: just announce it again
  if (live.unplanned) return submitter.resumeLive(live, undefined)
  for (const { peer, signed } of await journal.claims(id)) {
    try {
      live.claims.set(peer, await verifyClaim(signed, peer, network))
    } catch (err) {
      if (!(err instanceof InvalidClaimError)) throw err
    }
  }
  let fetching: string | undefined
  const scan = (decisions: QuorumDecision[]): void => {
    for (const d of decisions) if (d.type === 'fetchOutput') fetching = d.peer
  }
  scan(live.quorum.start())
  for (const event of await journal.events(id)) {
    if (event.type === 'outputChecked') fetching = undefined
    scan(live.quorum.apply(event))
    live.seq++
  }
  const snap = live.quorum.snapshot()
  live.need = snap.pendingAwards
  // the terms of awards made before the restart (journals written before award records existed
  // have none: those awards are settled at the task's max price, see submitter.ts)
  const made = new Map((await journal.awards(id)).map((a) => [a.peer, a]))
  live.awardees = snap.awarded.map((peer) => {
    const a = made.get(peer)
    return a == null ? { peer } : { peer, address: a.address, price: a.price }
  })
  if (live.record.plan?.onlyExecutor !== undefined && snap.awarded.length === 0) submitter.unplan(live)
  await submitter.resumeLive(live, fetching)
}
