/**
 * The composition root: one plusone daemon = a libp2p node, its capacity record, the store, the
 * blob store and protocol, the sandbox pool and (when served) the control API. The CLI's
 * `daemon` command and the in-process test mesh both build nodes through `startDaemon`, so tests
 * exercise exactly what users run.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { BlobService, BlobStore } from '../blobs/index.js'
import { CapacityService, type Offer } from '../capacity/index.js'
import { type Config, toMicroCredits } from '../config.js'
import { createNode, type PlusoneNode } from '../node/index.js'
import { KeepConnected } from '../node/keep-connected.js'
import { RuntimePool } from '../runtime/index.js'
import { openStore, type Store } from '../store/index.js'
import { VERSION } from '../version.js'

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
    const runtime = new RuntimePool({ workers: config.cpus })
    runtime.start()
    stops.push(() => runtime.stop())

    let refused = 0
    const node = await createNode({
      privateKey: init.privateKey,
      listen: config.listen,
      bootstrap: config.bootstrap,
      swarmKey: init.swarmKey,
      mdns: config.mdns,
      onRefusedHandshake: (direction, err) => {
        refused++
        say(
          `refused ${direction} handshake (${err.name}): ${init.swarmKey == null ? 'the peer may be in a private swarm' : 'the peer does not hold this swarm key'}`,
        )
      },
    })
    stops.push(() => node.stop())
    const logger = defaultLogger()
    const keep = new KeepConnected(node, config.bootstrap, logger)
    keep.start()
    stops.push(() => keep.stop())

    const blobs = new BlobService({ registrar: node, dialer: node, store: blobStore, logger })
    await blobs.start()
    stops.push(() => blobs.stop())

    const capacity = new CapacityService(
      {
        privateKey: init.privateKey,
        peerId: node.peerId,
        dht: node.services.dht,
        logger,
        connectedPeers: () => node.getPeers(),
        onPeerConnect: (fn) => {
          node.addEventListener('peer:connect', fn)
          return () => node.removeEventListener('peer:connect', fn)
        },
      },
      { offer: offerFrom(config), version: VERSION, ttlMs: init.capacityTtlMs },
    )
    capacity.start()
    stops.push(() => capacity.stop())

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
      refusedHandshakes: () => refused,
      stop: () => {
        stopped ??= stopAll()
        return stopped
      },
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}
