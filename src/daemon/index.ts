/**
 * The composition root: one plusone daemon = a libp2p node, its capacity record, the store, the
 * blob store and protocol, the sandbox pool and (when served) the control API. The CLI's
 * `daemon` command and the in-process test mesh both build nodes through `startDaemon`, so tests
 * exercise exactly what users run.
 */
import { mkdir } from 'node:fs/promises'
import { availableParallelism, loadavg } from 'node:os'
import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { BlobService, BlobStore } from '../blobs/index.js'
import { CapacityService, type Offer } from '../capacity/index.js'
import { type Config, parseDuration, parseSize, toMicroCredits, webrtcEnabled } from '../config.js'
import { createNode, freshDialer, handshakeCause, type PlusoneNode } from '../node/index.js'
import {
  CHANNEL_PROTOCOL,
  type ExecutorPolicy,
  type Fault,
  Market,
  type MarketInit,
  TASKS_TOPIC,
} from '../market/index.js'
import { KeepConnected } from '../node/keep-connected.js'
import { RelayFinder } from '../node/relay-finder.js'
import { Ledger, levelLedgerStore, RECEIPTS_TOPIC, receiptId, SettlementService } from '../ledger/index.js'
import { DaemonMetrics, libp2pMetrics, storedBlobBytes } from '../metrics/index.js'
import { type NetworkId, networkOf } from '../network/index.js'
import { RuntimePool } from '../runtime/index.js'
import { openStore, type Store } from '../store/index.js'
import { VERSION } from '../version.js'

/** How often a daemon refreshes its view of the mesh's capacity records in the background. */
const CAPACITY_SURVEY_MS = 60_000

/** Runtime features every executor of this version offers. */
export const RUNTIME_FEATURES = [
  'wasm-mvp',
  'sign-ext',
  'sat-float-to-int',
  'bulk-memory',
  'multi-value',
  'metered',
]

export interface DaemonInit {
  dataDir: string
  config: Config
  privateKey: PrivateKey
  /** The swarm key's bytes when the node joins a private swarm. */
  swarmKey?: Uint8Array
  /** Lines a person reads (refused handshakes and the like). @default nothing */
  log?: (line: string) => void
  /** Capacity record lifetime; tests shorten it. */
  capacityTtlMs?: number
  /** Testing aid: make this node misbehave as an executor (see `plusone daemon --help`). */
  fault?: Fault
  /**
   * Market settings beyond the operator's config (tests shorten windows; bench/hostile.ts turns
   * the executor's flood defences off for its baseline).
   */
  market?: Omit<MarketInit, 'executor'> & { executor?: Pick<ExecutorPolicy, 'floodDefence'> }
  /**
   * Export libp2p's metrics beside plusone's. Only one daemon per process can (the package
   * keeps module-level state); the CLI's daemon does. @default false
   */
  libp2pMetrics?: boolean
}

export interface Daemon {
  readonly dataDir: string
  readonly config: Config
  readonly node: PlusoneNode
  readonly capacity: CapacityService
  readonly store: Store
  readonly blobStore: BlobStore
  readonly blobs: BlobService
  readonly runtime: RuntimePool
  readonly market: Market
  readonly ledger: Ledger
  readonly settlement: SettlementService
  /** Prometheus metrics (`GET /metrics` on the control API). */
  readonly metrics: DaemonMetrics
  /** The network every signed message of this node names (network/index.ts). */
  readonly network: NetworkId
  /** Handshakes refused since start (peers with another swarm key, or none). */
  readonly refusedHandshakes: () => number
  stop(): Promise<void>
}

export function offerFrom(config: Config): Offer {
  return {
    cores: config.cpus,
    memoryMB: config.memoryMB,
    features: RUNTIME_FEATURES,
    price: toMicroCredits(config.price),
    maxTasks: config.maxTasks,
    relay: config.relay === 'on',
  }
}

/**
 * Idle-only: the machine counts as busy when its 1-minute load exceeds half its cores, beyond
 * the load this node's own tasks may add (`cpus`).
 */
function machineBusy(cpus: number): boolean {
  return loadavg()[0] > availableParallelism() / 2 + cpus
}

/** Replicas a task of this node runs with, or undefined once the market no longer knows it. */
function replicasOf(market: Market, taskId: string): number | undefined {
  try {
    return market.taskStatus(taskId).replicas
  } catch {
    return undefined
  }
}

/** Starts every part of a daemon; on failure, whatever started is stopped again. */
export async function startDaemon(init: DaemonInit): Promise<Daemon> {
  const { dataDir, config } = init
  const say = init.log ?? (() => {})
  const stops: Array<() => Promise<void> | void> = []
  const stopAll = async (): Promise<void> => {
    for (const s of stops.reverse()) await Promise.resolve(s()).catch(() => {})
  }
  try {
    await mkdir(dataDir, { recursive: true })
    const store = await openStore(join(dataDir, 'db'))
    stops.push(() => store.close())
    const blobStore = await BlobStore.open({ dataDir })
    stops.push(() => blobStore.close())
    // every signed message names this network (network/index.ts): nothing replays across networks
    const network = networkOf(init.swarmKey)
    const runtime = new RuntimePool({ workers: config.cpus })
    runtime.start()
    stops.push(() => runtime.stop())

    const metrics = new DaemonMetrics()
    let refused = 0
    const node = await createNode({
      privateKey: init.privateKey,
      listen: config.listen,
      bootstrap: config.bootstrap,
      swarmKey: init.swarmKey,
      mdns: config.mdns,
      topics: [TASKS_TOPIC, RECEIPTS_TOPIC],
      metrics: init.libp2pMetrics === true ? libp2pMetrics(metrics.registry) : undefined,
      relay: config.relay,
      upnp: config.upnp,
      webrtc: webrtcEnabled(config),
      iceServers: config.iceServers,
      dedupe: config.dedupe,
      // a redundant connection is closed only once the market's requests on it are answered
      drainProtocols: [CHANNEL_PROTOCOL],
      onRefusedHandshake: (direction, err) => {
        refused++
        say(`${direction} handshake failed (${err.name}): ${handshakeCause(err, init.swarmKey != null)}`)
      },
    })
    stops.push(() => node.stop())
    const logger = defaultLogger()
    const keep = new KeepConnected(node, config.bootstrap, logger)
    keep.start()
    stops.push(() => keep.stop())

    // bids, claims, invitations and blob fetches reach a home whose stored addresses went stale
    const dialer = freshDialer(node, logger.forComponent('plusone:dial'))
    const blobs = new BlobService({ registrar: node, dialer, store: blobStore, logger })
    await blobs.start()
    stops.push(() => blobs.stop())

    const capacity = new CapacityService(
      {
        privateKey: init.privateKey,
        peerId: node.peerId,
        dht: node.services.dht,
        logger,
        connectedPeers: () => node.getPeers(),
        network,
        onPeerConnect: (fn) => {
          node.addEventListener('peer:connect', fn)
          return () => node.removeEventListener('peer:connect', fn)
        },
      },
      {
        offer: offerFrom(config),
        version: VERSION,
        ttlMs: init.capacityTtlMs,
        surveyIntervalMs: CAPACITY_SURVEY_MS,
      },
    )
    capacity.start()
    stops.push(() => capacity.stop())
    // a node that starts relaying says so in its capacity record (`plusone nodes` shows it)
    const stopWatching = node.services.reachability.onChange(() => {
      const relay = node.services.relay.active
      if (relay !== (capacity.currentOffer.relay === true))
        capacity.setOffer({ ...capacity.currentOffer, relay })
    })
    stops.push(stopWatching)
    const relayFinder = new RelayFinder({
      node,
      reserveOn: (relay) => node.services.homeRelays.reserveOn(relay),
      reachability: node.services.reachability,
      findRelays: async (signal) =>
        (await capacity.findAll({ signal }))
          .filter((c) => c.relay === true && c.peerId !== node.peerId.toString())
          .map((c) => c.peerId),
      logger,
    })
    relayFinder.start()
    stops.push(() => relayFinder.stop())

    const ledger = await Ledger.open({
      store: levelLedgerStore(store.sublevel('ledger')),
      self: node.peerId.toString(),
      network,
    })
    const settlement = new SettlementService({
      privateKey: init.privateKey,
      network,
      pubsub: node.services.pubsub,
      ledger,
      logger,
    })
    settlement.start()
    stops.push(() => settlement.stop())
    const creditLimit = BigInt(toMicroCredits(config.creditLimit))
    // in a private swarm the swarm key admits members, so a new member gets the whole limit
    const newCredit = BigInt(toMicroCredits(init.swarmKey == null ? config.newCredit : config.creditLimit))

    const market = new Market(
      {
        peerId: node.peerId,
        privateKey: init.privateKey,
        registrar: node,
        dialer,
        pubsub: node.services.pubsub,
        blobStore,
        blobs,
        runtime: metrics.instrument(runtime),
        db: store.sublevel('market'),
        network,
        capacity,
        logger,
      },
      {
        // reputation from this node's own verified observations first, then price and latency
        rankBids: (bids) =>
          [...bids].sort(
            (a, b) =>
              ledger.observedReputation(b.peer).score - ledger.observedReputation(a.peer).score ||
              a.price - b.price ||
              a.latencyMs - b.latencyMs,
          ),
        // one award per IPv4 /24 or IPv6 /48 on the public network; a private swarm's members are known
        maxAwardsPerPrefix: init.swarmKey == null ? 1 : undefined,
        // others' blobs bounded; an output goes once this node holds the receipt for running it
        cacheBytes: parseSize(config.cacheSize),
        jobRetentionMs: parseDuration(config.jobRetention),
        isSettled: (taskId, submitter) => ledger.has(receiptId(submitter, taskId, node.peerId.toString())),
        onSettled: (s) => {
          metrics.settled(s, replicasOf(market, s.taskId))
          return settlement.settleTask(s).catch((err: Error) => {
            say(`settling ${s.taskId} failed: ${err.message}`)
            throw err
          })
        },
        ...init.market,
        executor: {
          admit: (submitter) => {
            if (!ledger.canAfford(submitter, creditLimit, 0n, newCredit))
              return 'the submitter is over our credit limit'
            if (config.idleOnly && machineBusy(config.cpus)) return 'this machine is busy (idle-only)'
            return undefined
          },
          enabled: config.maxTasks > 0,
          maxTasks: config.maxTasks,
          memoryMB: config.memoryMB,
          price: toMicroCredits(config.price),
          fault: init.fault,
          floodDefence: init.market?.executor?.floodDefence,
        },
      },
    )
    await market.start()
    stops.push(() => market.stop())
    const self = node.peerId.toString()
    metrics.start({
      market,
      account: () => ledger.account(self),
      settlementStats: () => settlement.stats(),
      blobStats: () => blobs.stats(),
      blobBytes: () => storedBlobBytes(blobStore),
    })
    stops.push(() => metrics.stop())

    let stopped: Promise<void> | undefined
    return {
      dataDir,
      config,
      node,
      capacity,
      store,
      blobStore,
      blobs,
      runtime,
      market,
      ledger,
      settlement,
      metrics,
      network,
      refusedHandshakes: () => refused,
      stop: () => {
        // Tasks first: killing the worker processes ends every execution at once, so nothing
        // else waits on a task that never yields (a stopped pool rejects its runs).
        stopped ??= runtime
          .stop()
          .catch(() => {})
          .then(stopAll)
        return stopped
      },
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}
