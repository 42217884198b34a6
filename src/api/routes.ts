import { withTimeout } from '../abort.js'
import type { Daemon } from '../daemon/index.js'
import type { Capacity } from '../capacity/index.js'
import type { NodeRecord, PeerInfo } from '../client/types.js'
import {
  type ConnectionJson,
  describeConnection,
  type IceCheck,
  IceServerCheck,
  reachabilityReport,
} from '../node/index.js'
import type { Route } from './server.js'

const PING_TIMEOUT_MS = 2_000
/** `GET /nodes` answers within this long, with what the DHT walk found so far. */
const NODES_LOOKUP_TIMEOUT_MS = 5_000

/** Wire types live with the client, which is their contract (see src/client/types.ts). */
export type { NodeRecord as NodeJson, PeerInfo as PeerInfoJson } from '../client/types.js'

/** The foundation's routes: who this node is, who it is connected to, and what the mesh offers. */
export function nodeRoutes(d: Daemon): Route[] {
  let ice: IceServerCheck | undefined
  /** The ICE servers' checks: only with WebRTC on (and then at most every 30 s). */
  const iceChecks = (): Promise<IceCheck[]> => {
    if (d.node.services.webrtcUpgrader == null) return Promise.resolve([])
    ice ??= new IceServerCheck(d.config.iceServers)
    return ice.check()
  }
  return [
    {
      method: 'GET',
      path: '/id',
      handler: async () => ({
        peerId: d.node.peerId.toString(),
        // what this node advertises: unroutable addresses are left out
        addresses: d.node.getMultiaddrs().map((a) => a.toString()),
        reachability: d.node.services.reachability.reachability,
      }),
    },
    {
      method: 'GET',
      path: '/reachability',
      handler: async () =>
        reachabilityReport(d.node, d.config.relay, d.config.iceServers.length, await iceChecks()),
    },
    {
      method: 'GET',
      path: '/peers',
      handler: async ({ signal }): Promise<PeerInfo[]> => {
        const byPeer = new Map<string, ConnectionJson[]>()
        for (const c of d.node.getConnections()) {
          const id = c.remotePeer.toString()
          byPeer.set(id, [...(byPeer.get(id) ?? []), describeConnection(c)])
        }
        const out = await Promise.all(
          [...byPeer].map(async ([peerId, connections]) => {
            const addresses = connections.map((c) => c.address)
            let latencyMs: number | null = null
            try {
              const peer = d.node.getConnections().find((c) => c.remotePeer.toString() === peerId)?.remotePeer
              if (peer != null) {
                latencyMs = await withTimeout(signal, PING_TIMEOUT_MS, (s) =>
                  d.node.services.ping.ping(peer, { signal: s }),
                )
              }
            } catch {
              latencyMs = null
            }
            return { peerId, addresses, latencyMs, connections }
          }),
        )
        return out.sort((a, b) => a.peerId.localeCompare(b.peerId))
      },
    },
    {
      method: 'GET',
      path: '/nodes',
      handler: async ({ signal }): Promise<NodeRecord[]> => {
        const self = d.node.peerId.toString()
        const found = new Map<string, Capacity>()
        const own = d.capacity.current ?? d.capacity.latest
        if (own != null) found.set(self, own)
        // with no peer there is nobody to ask: answer at once with this node's own record
        if (d.node.getConnections().length > 0) {
          try {
            const all = await withTimeout(signal, NODES_LOOKUP_TIMEOUT_MS, (s) =>
              d.capacity.findAll({ signal: s }),
            )
            for (const c of all) found.set(c.peerId, c)
          } catch (err) {
            if (signal.aborted) throw err
            // the walk ran out of time: answer with every record it (or an earlier one) verified
            for (const c of d.capacity.known()) if (!found.has(c.peerId)) found.set(c.peerId, c)
          }
        }
        const caps = [...found.values()].sort((a, b) => a.peerId.localeCompare(b.peerId))
        return caps.map((c) => ({
          peerId: c.peerId,
          cores: c.cores,
          memoryMB: c.memoryMB,
          price: c.price / 1e6,
          maxTasks: c.maxTasks,
          features: c.features,
          version: c.version,
          expiresAt: new Date(c.expiresAt).toISOString(),
          self: c.peerId === self,
          relay: c.relay === true,
        }))
      },
    },
  ]
}
