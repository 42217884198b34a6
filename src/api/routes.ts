import type { Daemon } from '../daemon/index.js'
import type { Route } from './server.js'

const PING_TIMEOUT_MS = 2_000
const NODES_LOOKUP_TIMEOUT_MS = 20_000

export interface PeerInfoJson {
  peerId: string
  addresses: string[]
  /** Round trip of a libp2p ping, or null when the peer did not answer in time. */
  latencyMs: number | null
}

export interface NodeJson {
  peerId: string
  cores: number
  memoryMB: number
  /** Ask in credits per Gfuel. */
  price: number
  maxTasks: number
  features: string[]
  version: string
  expiresAt: string
  self: boolean
}

/** The foundation's routes: who this node is, who it is connected to, and what the mesh offers. */
export function nodeRoutes(d: Daemon): Route[] {
  return [
    {
      method: 'GET',
      path: '/id',
      handler: async () => ({
        peerId: d.node.peerId.toString(),
        addresses: d.node.getMultiaddrs().map((a) => a.toString()),
      }),
    },
    {
      method: 'GET',
      path: '/peers',
      handler: async ({ signal }): Promise<PeerInfoJson[]> => {
        const byPeer = new Map<string, string[]>()
        for (const c of d.node.getConnections()) {
          const id = c.remotePeer.toString()
          byPeer.set(id, [...(byPeer.get(id) ?? []), c.remoteAddr.toString()])
        }
        const out = await Promise.all(
          [...byPeer].map(async ([peerId, addresses]) => {
            let latencyMs: number | null = null
            try {
              const peer = d.node.getConnections().find((c) => c.remotePeer.toString() === peerId)?.remotePeer
              if (peer != null) {
                latencyMs = await d.node.services.ping.ping(peer, {
                  signal: AbortSignal.any([signal, AbortSignal.timeout(PING_TIMEOUT_MS)]),
                })
              }
            } catch {
              latencyMs = null
            }
            return { peerId, addresses, latencyMs }
          }),
        )
        return out.sort((a, b) => a.peerId.localeCompare(b.peerId))
      },
    },
    {
      method: 'GET',
      path: '/nodes',
      handler: async ({ signal }): Promise<NodeJson[]> => {
        const self = d.node.peerId.toString()
        const caps = await d.capacity.findAll({
          signal: AbortSignal.any([signal, AbortSignal.timeout(NODES_LOOKUP_TIMEOUT_MS)]),
        })
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
        }))
      },
    },
  ]
}
