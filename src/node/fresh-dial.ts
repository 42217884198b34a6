/**
 * Dialling a peer whose stored addresses are stale. A home's addresses change after it starts:
 * at first it advertises its LAN address (its reachability is still unknown), a few seconds
 * later only its relay addresses. Whoever learned the first set — from a DHT answer, a random
 * walk — keeps it: libp2p looks a peer up only when it holds no address for it at all, so every
 * later dial goes to the other home's LAN address and fails, however current the relay's view
 * is. Measured in the NAT lab: a home executor's bids to a home submitter failed for 90 s that
 * way, though the announcement had reached it.
 *
 * `freshDialer` dials as libp2p does; when that fails and no connection to the peer is open,
 * it asks the network for the peer's current addresses (a DHT lookup that skips the local
 * cache), and if they differ from what failed, replaces the stored ones and dials once more.
 * Replacing, not merging: the old addresses just failed, and keeping them would make the next
 * dial try them first again. A lookup per peer runs at most once at a time and once per
 * {@link LOOKUP_INTERVAL_MS}.
 */
import { isPeerId, type Libp2p, type Logger, type PeerId, type Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { withTimeout } from '../abort.js'

/** A peer is looked up in the network at most this often. */
export const LOOKUP_INTERVAL_MS = 10_000
/** How long a lookup may take (it is also bounded by the caller's signal). */
export const LOOKUP_TIMEOUT_MS = 5_000
/** Peers remembered for the interval rule before the oldest are forgotten. */
const MAX_REMEMBERED = 1024

export type FreshDialerNode = Pick<
  Libp2p,
  'dialProtocol' | 'getConnections' | 'peerStore' | 'peerRouting' | 'peerId'
>

/** `peerId`: the market picks the connection both ends keep by it (network/connections.ts). */
export type FreshDialer = Pick<Libp2p, 'dialProtocol' | 'getConnections' | 'peerId'>

export function freshDialer(node: FreshDialerNode, log: Logger): FreshDialer {
  const lastLookup = new Map<string, number>()
  const running = new Map<string, Promise<boolean>>()

  /** True when the network gave addresses other than the stored ones (now stored instead). */
  const refresh = async (peer: PeerId): Promise<boolean> => {
    const id = peer.toString()
    const last = lastLookup.get(id)
    if (last != null && Date.now() - last < LOOKUP_INTERVAL_MS) return false
    lastLookup.delete(id)
    lastLookup.set(id, Date.now())
    if (lastLookup.size > MAX_REMEMBERED) lastLookup.delete(lastLookup.keys().next().value as string)
    const stored = new Set(
      (await node.peerStore.get(peer).catch(() => undefined))?.addresses.map((a) => a.multiaddr.toString()) ??
        [],
    )
    const found = await withTimeout(undefined, LOOKUP_TIMEOUT_MS, (signal) =>
      node.peerRouting.findPeer(peer, { useCache: false, signal }),
    )
    const fresh: Multiaddr[] = found.multiaddrs
    if (fresh.length === 0 || fresh.every((a) => stored.has(a.toString()))) return false
    await node.peerStore.patch(peer, { multiaddrs: fresh })
    log('addresses of %p were stale; the network says %s', peer, fresh.map(String).join(', '))
    return true
  }

  /** One lookup per peer at a time, whoever asks; it outlives a caller that gives up. */
  const lookUp = (peer: PeerId): Promise<boolean> => {
    const id = peer.toString()
    let lookup = running.get(id)
    if (lookup == null) {
      lookup = refresh(peer)
        .catch((e: Error) => {
          log('looking up %p after a failed dial: %s', peer, e.message)
          return false
        })
        .finally(() => running.delete(id))
      running.set(id, lookup)
    }
    return lookup
  }

  return {
    peerId: node.peerId,
    getConnections: (peer?: PeerId) => node.getConnections(peer),
    async dialProtocol(peer, protocols, options): Promise<Stream> {
      try {
        return await node.dialProtocol(peer, protocols, options)
      } catch (err) {
        if (!isPeerId(peer) || node.getConnections(peer).some((c) => c.status === 'open')) throw err
        // a stale address often hangs until the caller gives up (a home's LAN address from
        // another home: the packets go nowhere): the lookup still runs, for the next attempt
        const lookup = lookUp(peer)
        if (options?.signal?.aborted === true || !(await lookup)) throw err
        return node.dialProtocol(peer, protocols, options)
      }
    },
  }
}
