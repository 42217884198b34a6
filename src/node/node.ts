import { createHash } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { type GossipSub, gossipsub } from '@libp2p/gossipsub'
import { createTopicScoreParams, type TopicScoreParams } from '@libp2p/gossipsub/score'
import { type Identify, type IdentifyPush, identify, identifyPush } from '@libp2p/identify'
import type { ComponentLogger, ConnectionEncrypter, ConnectionProtector, PrivateKey } from '@libp2p/interface'
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { type Ping, ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { webRTC } from '@libp2p/webrtc'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import { BoundedDatastore, peerStoreKey } from './bounded-datastore.js'
import { type ConnectionDedupe, connectionDedupe } from './dedupe.js'
import { type GossipStreamGuard, gossipStreamGuard } from './gossip-streams.js'
import { cachingNoiseCrypto } from './noise-crypto.js'
import { networkOf } from '../network/index.js'
import { CAPACITY_NAMESPACE, capacitySelector, capacityValidatorWithMemory } from '../capacity/record.js'
import { type MembershipGate, MembershipError, membershipGate } from './membership.js'
import { guardPnetCipher } from './pnet-memory.js'
import { type ReachabilityService, reachability } from './reachability.js'
import {
  HOME_RESERVATIONS,
  homeRelays,
  type HomeRelays,
  type RelayMode,
  type SwitchableRelay,
  switchableRelay,
} from './relay.js'
import { parseIceServer } from '../ice-servers.js'
import { isWebRTC, WEBRTC_LISTEN, type WebRTCUpgrader, webRTCUpgrader } from './webrtc.js'
import { type UpnpPortMapper, upnpPortMapper } from './upnp.js'

const EMPTY = new Uint8Array(0)

/** The plusone DHT: never the IPFS one. */
export const DHT_PROTOCOL = '/plusone/kad/1.0.0'
/** Where the DHT keeps its records and provider entries in the node's datastore. */
export const DHT_DATASTORE_PREFIX = '/plusone-dht'

/** A kad-dht validator for namespaces plusone does not store. */
async function refuseRecord(): Promise<void> {
  throw new Error('this DHT stores only plusone capacity records')
}
/** Largest gossipsub message a node accepts (task announcements and receipts are small). */
export const MAX_GOSSIP_MESSAGE_BYTES = 64 * 1024
/** Inbound connections per second per IP; loopback meshes share one IP, so this is raised. */
const INBOUND_CONNECTIONS_PER_SECOND = 100
const LOOPBACK_IPS = ['127.0.0.1', '::1']
/**
 * Open connections a node keeps (libp2p prunes the least valuable above it): per-node cost stays
 * bounded however large the mesh (docs/SCALE.md). Gossipsub's mesh (D = 6, at most 12) and the
 * DHT's lookups fit well within it.
 */
export const MAX_CONNECTIONS = 32
/** Concurrent ping streams per connection and direction (libp2p's default is one out, two in). */
const PING_STREAMS_PER_CONNECTION = 4
/**
 * Score of each invalid message (one a topic validator rejects: forged, malformed) squared, per
 * topic: three invalid messages take a peer below gossipsub's graylist threshold (−80), so its
 * messages are then ignored until the penalty decays (halving every decay interval). Only this
 * counter is scored: delivery-rate penalties would punish peers of a quiet topic.
 */
const INVALID_MESSAGE_WEIGHT = -10
const INVALID_MESSAGE_DECAY = 0.5

/** Topic score parameters that penalise invalid messages and nothing else. */
function invalidOnlyScore(): Partial<TopicScoreParams> {
  return {
    topicWeight: 1,
    timeInMeshWeight: 0,
    firstMessageDeliveriesWeight: 0,
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    invalidMessageDeliveriesWeight: INVALID_MESSAGE_WEIGHT,
    invalidMessageDeliveriesDecay: INVALID_MESSAGE_DECAY,
  }
}

export type NodeServices = {
  identify: Identify
  identifyPush: IdentifyPush
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
  reachability: ReachabilityService
  relay: SwitchableRelay
  homeRelays: HomeRelays
  /** Present with a swarm key and WebRTC: gates connections that pnet does not protect. */
  membership?: MembershipGate
  /** Present with WebRTC on: upgrades relayed connections to hole-punched WebRTC ones. */
  webrtcUpgrader?: WebRTCUpgrader
  /** Present with `upnp: true`. */
  upnp?: UpnpPortMapper
  /** Present unless `dedupe: false`: one connection per peer pair (dedupe.ts). */
  dedupe?: ConnectionDedupe
  /** Keeps gossipsub's stream to a peer alive when one of its connections closes (gossip-streams.ts). */
  gossipStreams: GossipStreamGuard
}

export type PlusoneNode = Libp2p<NodeServices>

export interface NodeInit {
  privateKey: PrivateKey
  /** @default ['/ip4/0.0.0.0/tcp/4101'] */
  listen?: string[]
  /** Multiaddrs (with /p2p/ ids) to join the mesh through. */
  bootstrap?: string[]
  /** A swarm key (libp2p v1 PSK format): only peers with the same key can connect. */
  swarmKey?: Uint8Array
  /** Find peers on the LAN with mDNS. @default true */
  mdns?: boolean
  /** Topics gossipsub accepts; messages on any other topic are dropped. */
  topics?: string[]
  /** Called when an inbound or outbound handshake fails, e.g. a peer with another swarm key. */
  onRefusedHandshake?: (direction: 'inbound' | 'outbound', err: Error) => void
  /** DHT parameters; leave unset in a real mesh. Benchmarks pass SIMULATION_DHT. */
  dht?: DhtTuning
  /** libp2p's metrics implementation (the daemon passes `@libp2p/prometheus-metrics`). @default none */
  metrics?: Libp2pOptions['metrics']
  /**
   * Serve circuit relay v2 for homes: `auto` once dial-back confirms this node is reachable,
   * `on` from the start, `off` never. @default 'auto'
   */
  relay?: RelayMode
  /** Ask the home router to forward our TCP port over UPnP (see upnp.ts). @default false */
  upnp?: boolean
  /**
   * The node's datastore, whose DHT part is bounded (strangers' records included); pass one to
   * choose the bound or read its counters. @default a new BoundedDatastore of MAX_DHT_ENTRIES
   */
  datastore?: BoundedDatastore
  /**
   * WebRTC private-to-private: listen on `/webrtc` behind every relay reservation and upgrade
   * relayed connections to hole-punched direct ones. Off unless asked for (the daemon asks
   * once an ICE server is configured, see `webrtcEnabled`). @default false
   */
  webrtc?: boolean
  /**
   * Keep one connection per peer pair: a redundant one from a simultaneous dial is drained and
   * closed (dedupe.ts; gossip-streams.ts keeps gossip flowing over the one kept). `false` keeps
   * every connection (the baseline of bench/dials.ts).
   * @default true
   */
  dedupe?: boolean
  /**
   * Request channels (the market's) whose outbound streams are closed for writing when their
   * connection is retired as redundant, so the peer answers what they asked and closes them.
   * @default []
   */
  drainProtocols?: string[]
  /**
   * ICE servers for WebRTC (`stun:host:port`, `turn:user:password@host:port`). None by default:
   * no third party ever learns of a connection; two homes behind NAT need a STUN server.
   * @default []
   */
  iceServers?: string[]
}

/**
 * kad-dht parameters. Leave them unset in a real mesh (one node per machine): libp2p's defaults
 * (k = 20, a 6-bit routing trie, alpha = 10 on 10 disjoint paths) are what the rest of the
 * network expects. They make every node hold, ping and connect to nearly every peer of a
 * mesh of tens of nodes, and every lookup ask up to 20 peers at once; that is cheap on separate
 * machines and ruinous when dozens of nodes share one CPU.
 */
export interface DhtTuning {
  /** Peers per routing-table bucket, and how many peers a record is stored on. @default 20 */
  kBucketSize?: number
  /** Depth of the routing-table trie: it holds at most `2^prefixLength * kBucketSize` peers. @default 6 */
  prefixLength?: number
  /** Peers asked in parallel on each path of a query. @default 10 */
  alpha?: number
  /** Disjoint paths per query. @default alpha */
  disjointPaths?: number
}

/**
 * DHT parameters for many nodes in one process (benchmarks, simulations), never for a
 * deployment: records stored on 4 peers, routing tables of at most 8, lookups 2 peers wide on
 * one path. Every libp2p connection costs both of its ends tens of milliseconds of CPU (noise
 * handshake, identify, peer-store writes, gossipsub and kad streams), and in one process all
 * of it lands on one thread.
 */
export const SIMULATION_DHT: Readonly<DhtTuning> = {
  kBucketSize: 4,
  prefixLength: 1,
  alpha: 2,
  disjointPaths: 1,
}

/**
 * Reports every connection that fails before encryption is established. With pnet, a peer
 * holding another key (or none) garbles the handshake after the protector, usually already in
 * multistream-select, so the protector marks each stream it protects and the encrypter marks the
 * ones it secures: a protected stream that closes unsecured was a refused handshake. Without
 * pnet, a failed noise handshake is reported directly. The operator sees refusals, not silence.
 */
class HandshakeObserver {
  private readonly secured = new WeakSet<object>()

  constructor(private readonly onFail: NodeInit['onRefusedHandshake']) {}

  noise(): (components: { logger: ComponentLogger }) => ConnectionEncrypter {
    const factory = noise({ crypto: cachingNoiseCrypto() })
    return (components) => {
      // biome-ignore lint/suspicious/noExplicitAny: noise's component type is internal to the package
      const inner = factory(components as any)
      const wrap =
        (direction: 'inbound' | 'outbound', fn: ConnectionEncrypter['secureInbound']) =>
        async (...args: Parameters<ConnectionEncrypter['secureInbound']>) => {
          try {
            const out = await fn.apply(inner, args)
            this.secured.add(args[0])
            return out
          } catch (err) {
            this.onFail?.(direction, err as Error)
            this.secured.add(args[0]) // reported once
            throw err
          }
        }
      return {
        protocol: inner.protocol,
        secureInbound: wrap('inbound', inner.secureInbound),
        secureOutbound: wrap('outbound', inner.secureOutbound),
      } as ConnectionEncrypter
    }
  }

  protector(psk: Uint8Array): () => ConnectionProtector {
    const factory = preSharedKey({ psk })
    return () => {
      const inner = factory()
      return {
        protect: async (connection, options) => {
          const stream = await inner.protect(connection, options)
          guardPnetCipher(stream)
          stream.addEventListener('close', (evt) => {
            if (!this.secured.has(stream)) {
              this.secured.add(stream)
              const err = evt.error ?? new Error('connection closed during the handshake')
              this.onFail?.(connection.direction === 'inbound' ? 'inbound' : 'outbound', err)
            }
          })
          return stream
        },
      }
    }
  }
}

/** Creates and starts a plusone libp2p node. */
export async function createNode(init: NodeInit): Promise<PlusoneNode> {
  const peerDiscovery: NonNullable<Libp2pOptions['peerDiscovery']> = []
  if (init.bootstrap != null && init.bootstrap.length > 0) {
    peerDiscovery.push(bootstrap({ list: init.bootstrap, timeout: 0 }))
  }
  if (init.mdns ?? true) {
    peerDiscovery.push(mdns({ serviceTag: init.swarmKey == null ? 'plusone' : 'plusone-private' }))
  }
  const observer = new HandshakeObserver(init.onRefusedHandshake)
  // capacity records are signed for this node's network: a private swarm's never pass here
  const network = networkOf(init.swarmKey)
  const webrtc = init.webrtc ?? false
  const iceServers = (init.iceServers ?? []).map(parseIceServer)
  const listen = init.listen ?? ['/ip4/0.0.0.0/tcp/4101']
  // the announce filter is needed before the service exists; until then, libp2p's own view
  let reach: ReachabilityService | undefined
  // the DHT's records and provider entries, and the peer store, are bounded: identities are free
  const datastore = init.datastore ?? new BoundedDatastore({ prefix: DHT_DATASTORE_PREFIX })
  datastore.keep(peerStoreKey(peerIdFromPrivateKey(init.privateKey)))
  const node = (await createLibp2p({
    privateKey: init.privateKey,
    datastore,
    metrics: init.metrics,
    addresses: {
      listen: webrtc && !listen.includes(WEBRTC_LISTEN) ? [...listen, WEBRTC_LISTEN] : listen,
      // WebRTC addresses are never advertised: peers upgrade relayed connections instead (webrtc.ts)
      announceFilter: (addrs) => (reach?.announce(addrs) ?? addrs).filter((a) => !isWebRTC(a)),
    },
    // relayed connections go through the same upgrader as TCP: pnet protects them too
    // WebRTC connections skip pnet (the membership gate below covers them)
    transports: [
      tcp(),
      circuitRelayTransport({ reservationConcurrency: HOME_RESERVATIONS }),
      ...(webrtc ? [webRTC({ rtcConfiguration: { iceServers } })] : []),
    ],
    connectionEncrypters: [observer.noise()],
    streamMuxers: [yamux()],
    connectionProtector: init.swarmKey == null ? undefined : observer.protector(init.swarmKey),
    connectionManager: {
      inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_SECOND,
      maxIncomingPendingConnections: 50,
      maxConnections: MAX_CONNECTIONS,
    },
    peerDiscovery,
    services: {
      reachability: reachability(),
      relay: switchableRelay(init.relay ?? 'auto'),
      homeRelays: homeRelays(),
      // a mapped port is tested by dial-back at once, and advertised only if a peer reached it
      ...(init.upnp === true ? { upnp: upnpPortMapper({ onMapped: () => reach?.recheck() }) } : {}),
      ...(webrtc ? { webrtcUpgrader: webRTCUpgrader() } : {}),
      // the gate exists for transports that skip pnet; WebRTC is the only one configured
      ...(init.swarmKey == null || !webrtc
        ? {}
        : {
            membership: membershipGate({
              swarmKey: init.swarmKey,
              onRefused: (connection, err) =>
                init.onRefusedHandshake?.(connection.direction === 'inbound' ? 'inbound' : 'outbound', err),
            }),
          }),
      ...(init.dedupe === false ? {} : { dedupe: connectionDedupe({ drainProtocols: init.drainProtocols }) }),
      identify: identify(),
      // a home's addresses change after it connects (LAN first, relay addresses once it knows it
      // is private): its relays and bootstrap peers must hear of it, or they hand the stale
      // ones to everyone who looks the home up in the DHT
      identifyPush: identifyPush(),
      // the connection monitor, kad-dht's routing-table checks and callers all ping over this
      // one protocol; with ping's default of one outbound (two inbound) stream per connection
      // two of them at once fail, and the monitor then aborts a healthy connection
      ping: ping({
        maxOutboundStreams: PING_STREAMS_PER_CONNECTION,
        maxInboundStreams: PING_STREAMS_PER_CONNECTION,
      }),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        // local and LAN meshes are the common case: keep private and loopback addresses
        peerInfoMapper: passthroughMapper,
        ...init.dht,
        // one memory per node: a replayed older record never overwrites a newer one held here
        // only capacity records: kad-dht's default `pk` namespace (anyone's public key) is refused
        validators: {
          [CAPACITY_NAMESPACE]: capacityValidatorWithMemory(undefined, network),
          pk: refuseRecord,
        },
        selectors: { [CAPACITY_NAMESPACE]: (key, records) => capacitySelector(key, records, network) },
        logPrefix: 'plusone:dht',
        datastorePrefix: DHT_DATASTORE_PREFIX,
        metricsPrefix: 'plusone_dht',
      }),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictSign',
        emitSelf: false,
        allowPublishToZeroTopicPeers: true,
        maxInboundDataLength: MAX_GOSSIP_MESSAGE_BYTES,
        allowedTopics: init.topics,
        runOnLimitedConnection: false,
        // without a fast id, every duplicate copy of a message has its signature verified before
        // it is dropped; only validated messages enter this cache, so a forged copy cannot
        // shadow the real one
        fastMsgIdFn: (msg) =>
          createHash('sha1')
            .update(msg.from ?? EMPTY)
            .update(msg.seqno ?? EMPTY)
            .update(msg.topic)
            .update(msg.data ?? EMPTY)
            .digest('base64'),
        scoreParams: {
          // gossipsub penalises more than ten peers on one IP (a Sybil signal on the open
          // internet) so hard that it stops publishing to them: every node of a loopback mesh
          // shares 127.0.0.1, and a private swarm's members (admitted by the swarm key) may
          // share a NAT address, so neither is penalised
          IPColocationFactorWhitelist: new Set(LOOPBACK_IPS),
          ...(init.swarmKey == null ? {} : { IPColocationFactorWeight: 0 }),
          // topic validators (market, settlement) reject forged and malformed messages: penalise them
          topics: Object.fromEntries(
            (init.topics ?? []).map((t) => [t, createTopicScoreParams(invalidOnlyScore())]),
          ),
        },
      }),
      // gossipsub alone loses a peer for good when one of the pair's connections closes at the
      // wrong moment (the dedupe's, or one the peer closes): gossip-streams.ts
      gossipStreams: gossipStreamGuard(),
    },
  })) as PlusoneNode
  reach = node.services.reachability
  const { membership, webrtcUpgrader } = node.services
  if (membership != null) webrtcUpgrader?.setAdmission((c) => membership.verdict(c))
  const onReachability = async (state: string): Promise<void> => {
    if (state === 'public') {
      // first, and synchronously up to its first await: the daemon's listener, called right
      // after this one, reads `relay.active` to say so in the capacity record
      const activated = node.services.relay.activate()
      // others dial us directly now (a UPnP mapping a peer reached): relay slots would only
      // cost their owners and send peers the long way round
      await node.services.homeRelays.release()
      await activated
      await node.services.dht.setMode('server')
    } else if (state === 'private') {
      // nobody can dial us: others reach us through relays, and DHT queries must not come here
      await node.services.dht.setMode('client')
      await node.services.homeRelays.reserve()
    }
  }
  reach.onChange((state) => {
    onReachability(state).catch(() => {})
  })
  return node
}

/**
 * The real cause of a failed handshake, in words an operator can act on. A peer answering as
 * someone else is not a swarm-key problem: it is a stale or unroutable address (another home's
 * LAN address, loopback) that led to another machine, or back to this node.
 */
export function handshakeCause(err: Error, privateSwarm: boolean): string {
  switch (err.name) {
    case MembershipError.name:
      return `a WebRTC peer failed the swarm membership check: ${err.message}`
    case 'UnexpectedPeerError':
      return 'another peer answered at that address (a stale or unroutable address: another machine on the same private address, or this node itself)'
    case 'AbortError':
    case 'TimeoutError':
      return 'the handshake timed out (the peer went away, or the path is too slow)'
    // the other side reset the stream: a dial it gave up on half way (a request whose time ran
    // out, often while a relayed dial was still being set up) looks the same as a refusal
    case 'StreamResetError':
    case 'StreamStateError':
      return privateSwarm
        ? 'the other side broke off the handshake (it gave up on the dial, e.g. its request timed out, or it does not hold this swarm key)'
        : 'the other side broke off the handshake (it gave up on the dial, e.g. its request timed out, or it is in a private swarm)'
    default:
      return privateSwarm ? 'the peer does not hold this swarm key' : 'the peer may be in a private swarm'
  }
}
