/**
 * What a person asks about a node's place in the network: how each connection runs (direct,
 * relayed via whom, WebRTC), whether this node is reachable, which relays it holds, whether UPnP
 * mapped a port. Plain data for the control API, `plusone peers` and `plusone doctor`.
 */
import type { Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PlusoneNode } from './node.js'
import type { ReachabilityStatus } from './reachability.js'
import { type RelayMode, relayOf, relaysIn } from './relay.js'
import type { IceCheck } from './ice-check.js'
import type { UpgradeRecord } from './webrtc.js'
import type { UpnpStatus } from './upnp.js'

export interface ConnectionJson {
  kind: 'direct' | 'relayed' | 'webrtc'
  /** The relay's peer id, for a relayed connection. */
  via?: string
  direction: 'inbound' | 'outbound'
  address: string
  /** A relayed connection carries limited data and time; the market opens a new one after. */
  limited: boolean
}

export interface ReachabilityReport extends ReachabilityStatus {
  /** Addresses this node tells others about (identify, DHT). */
  advertised: string[]
  relay: {
    mode: RelayMode
    /** Whether this node relays for others now. */
    serving: boolean
    /** Homes holding a reservation here. */
    reservations: number
  }
  /** Relays this node holds a reservation on (their peer ids). */
  relaysHeld: string[]
  upnp: UpnpStatus & {
    enabled: boolean
    /** Whether a peer dialled this node at a mapped address (then it is advertised). */
    confirmed: boolean
  }
  connections: { direct: number; relayed: number; webrtc: number }
  webrtc: {
    enabled: boolean
    /** How many ICE (STUN/TURN) servers are configured. */
    iceServers: number
    /** Recent attempts to upgrade a relayed connection, most recent first. */
    upgrades: UpgradeRecord[]
    /** Whether each ICE server answered (checked when asked, with WebRTC on). */
    ice: IceCheck[]
  }
}

/** The addresses this node's transports listen on (what `--listen` became), relays aside. */
export function listeningAddresses(node: PlusoneNode): Multiaddr[] {
  const internals = node as unknown as { components?: { transportManager?: { getAddrs(): Multiaddr[] } } }
  return (internals.components?.transportManager?.getAddrs() ?? node.getMultiaddrs()).filter(
    (a) => !a.toString().includes('/p2p-circuit'),
  )
}

export function describeConnection(c: Connection): ConnectionJson {
  const address = c.remoteAddr.toString()
  // a WebRTC dialer's address names the relay it signalled through, but data flows directly
  if (c.remoteAddr.getComponents().some((p) => p.name === 'webrtc'))
    return { kind: 'webrtc', direction: c.direction, address, limited: c.limits != null }
  const via = relayOf(c.remoteAddr)
  const kind = via != null ? 'relayed' : 'direct'
  return { kind, via, direction: c.direction, address, limited: c.limits != null }
}

export function reachabilityReport(
  node: PlusoneNode,
  relayMode: RelayMode,
  iceServers = 0,
  ice: IceCheck[] = [],
): ReachabilityReport {
  const advertised = node.getMultiaddrs()
  const held = relaysIn(advertised)
  const connections = { direct: 0, relayed: 0, webrtc: 0 }
  for (const c of node.getConnections()) connections[describeConnection(c).kind]++
  const status = node.services.reachability.status()
  const upnp = node.services.upnp?.status() ?? { mapped: [] }
  const confirmed = new Set(status.confirmed.map((c) => c.address))
  return {
    ...status,
    advertised: advertised.map((a) => a.toString()),
    relay: {
      mode: relayMode,
      serving: node.services.relay.active,
      reservations: node.services.relay.reservations().length,
    },
    relaysHeld: [...held],
    upnp: {
      enabled: node.services.upnp != null,
      ...upnp,
      confirmed: upnp.mapped.some((a) => confirmed.has(a)),
    },
    connections,
    webrtc: {
      enabled: node.services.webrtcUpgrader != null,
      iceServers,
      upgrades: node.services.webrtcUpgrader?.attempts() ?? [],
      ice,
    },
  }
}
