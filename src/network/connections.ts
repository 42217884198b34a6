/**
 * Which of several connections to one peer a pair of nodes uses, as a pure rule both ends
 * compute alike from what each sees: when two peers dial each other at once they end up with
 * two connections, and both must agree, without a message, on the one to keep (the other is
 * closed gracefully, src/node/dedupe.ts) and the one to open new streams on meanwhile (the
 * market, src/market/wire.ts).
 *
 * The rule: a direct (not relayed), unlimited connection over a limited one; among direct ones,
 * the one dialled by the peer whose id sorts first; among those, the oldest. "Dialled by the
 * smaller id" is the same physical connection seen from either end (outbound at one, inbound at
 * the other), so both ends choose it.
 */
import type { Connection, PeerId } from '@libp2p/interface'

/** What the rule reads of a connection. */
export type ConnectionView = Pick<Connection, 'direction' | 'limits' | 'status' | 'direct' | 'timeline'>

/** The direction, as seen from `self`, of a connection dialled by the smaller of the two ids. */
export function keptDirection(self: PeerId | string, peer: PeerId | string): 'inbound' | 'outbound' {
  return self.toString() < peer.toString() ? 'outbound' : 'inbound'
}

const rank = (self: string, peer: string, c: ConnectionView): number =>
  (c.limits == null ? 0 : 4) + (c.direct ? 0 : 2) + (c.direction === keptDirection(self, peer) ? 0 : 1)

/**
 * The open connection new streams to `peer` should use, or undefined when none is open: an
 * unlimited direct one dialled by the smaller id first, the oldest of equals.
 */
export function preferredConnection<C extends ConnectionView>(
  self: PeerId | string,
  peer: PeerId | string,
  connections: readonly C[],
): C | undefined {
  const s = self.toString()
  const p = peer.toString()
  let best: C | undefined
  for (const c of connections) {
    if (c.status !== 'open') continue
    if (
      best == null ||
      rank(s, p, c) < rank(s, p, best) ||
      (rank(s, p, c) === rank(s, p, best) && c.timeline.open < best.timeline.open)
    )
      best = c
  }
  return best
}

/**
 * The direct, unlimited connections to `peer` this end should close because another one is kept
 * (see the rule above), or none. Both ends agree on the keeper's direction, so a connection in
 * the other direction is closed by both; two connections dialled the same way are closed only by
 * the end that dialled them (each end may see a different one as older).
 */
export function redundantConnections<C extends ConnectionView>(
  self: PeerId | string,
  peer: PeerId | string,
  connections: readonly C[],
): C[] {
  const candidates = connections.filter((c) => c.status === 'open' && c.limits == null && c.direct)
  if (candidates.length < 2) return []
  const kept = preferredConnection(self, peer, candidates)
  if (kept == null) return []
  return candidates.filter(
    (c) => c !== kept && (c.direction !== kept.direction || c.direction === 'outbound'),
  )
}
