/**
 * Who hears about a task: a bounded set of candidate executors, chosen by the submitter from the
 * capacity records it knows (found through the DHT), instead of everyone on one gossip topic.
 * docs/SCALE.md explains the numbers; bench/scale.ts measures them.
 *
 * A round invites at most `2·need + 3` peers (the same oversubscription the executors' first-round
 * bid probability aimed at), so a task draws at most that many bids per round whatever the size
 * of the mesh. Peers are ranked by a rendezvous hash of (task, round, peer): deterministic for a
 * given view, spread evenly over the mesh, and a new round reaches new peers.
 */
import { createHash } from 'node:crypto'

/**
 * `/plusone/invite/1.0.0`, submitter → invited executor: the task's signed announcement, exactly
 * the bytes gossip would carry (≤ MAX_ANNOUNCEMENT_BYTES); the reply is one byte (1 = heard).
 */
export const INVITE_PROTOCOL = '/plusone/invite/1.0.0'
export const MAX_INVITE_REPLY_BYTES = 16
/** How long an invitation waits for its one-byte reply. */
export const INVITE_TIMEOUT_MS = 5_000

/** Invitations per wanted award in one round. */
export const INVITE_OVERSUBSCRIPTION = 2
/** Invitations per round on top of `INVITE_OVERSUBSCRIPTION × need`. */
export const INVITE_SPARE = 3

/** Invitations one round sends for `need` wanted awards: 2·need + 3. */
export function invitationsFor(need: number): number {
  return INVITE_OVERSUBSCRIPTION * Math.max(1, need) + INVITE_SPARE
}

/**
 * The `count` best peers of `known` for this task and round by rendezvous hash, never one in
 * `exclude` (the submitter itself, peers already invited or awarded).
 */
export function chooseCandidates(
  taskId: string,
  round: number,
  known: readonly string[],
  count: number,
  exclude: ReadonlySet<string> = new Set(),
): string[] {
  const scored: Array<{ peer: string; score: string }> = []
  for (const peer of known) {
    if (exclude.has(peer)) continue
    scored.push({ peer, score: createHash('sha256').update(`${taskId}\0${round}\0${peer}`).digest('hex') })
  }
  scored.sort((a, b) => (a.score < b.score ? -1 : a.score > b.score ? 1 : 0))
  return scored.slice(0, count).map((s) => s.peer)
}
