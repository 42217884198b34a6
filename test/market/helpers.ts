/**
 * An in-process mesh for market tests and the benchmark: N plusone nodes on 127.0.0.1 (mdns off,
 * bootstrapped to node 0, then dialled pairwise), each with a blob store, a blob service, a
 * runtime pool, a store in a temp dir and a started Market. Capacity records come from a shared
 * in-memory view (what the DHT would return), so explanations do not wait for the DHT.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { BlobService, BlobStore } from '../../src/blobs/index.js'
import type { Capacity } from '../../src/capacity/index.js'
import {
  CHANNEL_PROTOCOL,
  type ExecutorPolicy,
  Market,
  type MarketComponents,
  type MarketEvent,
  type MarketInit,
  type MarketTransport,
  TASKS_TOPIC,
} from '../../src/market/index.js'
import { createNode, type PlusoneNode } from '../../src/node/index.js'
import { RuntimePool } from '../../src/runtime/index.js'
import { openStore, type Store } from '../../src/store/index.js'

export const ROOT = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../../../' : '../../', import.meta.url),
)

export function example(name: string): Uint8Array {
  return new Uint8Array(readFileSync(`${ROOT}examples/build/${name}.wasm`))
}

/** A bare libp2p node on 127.0.0.1 (tcp, noise, yamux; no services) for wire-level tests. */
export async function bareNode(): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  })
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b)

export interface MeshNode {
  node: PlusoneNode
  key: PrivateKey
  store: Store
  blobStore: BlobStore
  blobs: BlobService
  runtime: RuntimePool
  market: Market
  /** What the market was built from: a test can stop it and start another on the same journal. */
  components: MarketComponents
  id: string
}

export interface Mesh {
  nodes: MeshNode[]
  capacities: Capacity[]
  stop(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Starts `inits.length` nodes; `inits[i]` configures node i's market. Workers per runtime pool
 * default to 1. Resolves once every node sees every other node subscribed to the tasks topic.
 */
export async function startMesh(
  inits: MarketInit[],
  options: {
    workers?: number
    timeoutMs?: number
    /** Node i's market transport, when a test wraps the real one; libp2p's by default. */
    transport?: (node: PlusoneNode, index: number) => MarketTransport | undefined
  } = {},
): Promise<Mesh> {
  const dir = await mkdtemp(join(tmpdir(), 'plusone-market-'))
  const capacities: Capacity[] = []
  const nodes: MeshNode[] = []
  const signal = AbortSignal.timeout(options.timeoutMs ?? 20_000)
  try {
    for (let i = 0; i < inits.length; i++) {
      const key = await generateKeyPair('Ed25519')
      const bootstrap = i === 0 ? [] : [nodes[0].node.getMultiaddrs()[0].toString()]
      const node = await createNode({
        privateKey: key,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap,
        mdns: false,
        topics: [TASKS_TOPIC],
        drainProtocols: [CHANNEL_PROTOCOL],
      })
      const store = await openStore(join(dir, `node-${i}`, 'db'))
      const blobStore = await BlobStore.open({ dataDir: join(dir, `node-${i}`) })
      const blobs = new BlobService({ registrar: node, dialer: node, store: blobStore, logger: node.logger })
      await blobs.start()
      const runtime = new RuntimePool({ workers: options.workers ?? 1 })
      runtime.start()
      const policy = inits[i].executor ?? {}
      capacities.push(testCapacity(node.peerId.toString(), policy))
      const components: MarketComponents = {
        peerId: node.peerId,
        privateKey: key,
        registrar: node,
        dialer: node,
        pubsub: node.services.pubsub,
        blobStore,
        blobs,
        runtime,
        db: store.sublevel('market'),
        capacity: { known: () => capacities },
        logger: node.logger,
        transport: options.transport?.(node, i),
      }
      const market = new Market(components, inits[i])
      await market.start()
      nodes.push({
        node,
        key,
        store,
        blobStore,
        blobs,
        runtime,
        market,
        components,
        id: node.peerId.toString(),
      })
    }
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++)
        await nodes[i].node.dial(nodes[j].node.getMultiaddrs()[0], { signal })
    }
    await waitFor(
      () => nodes.every((n) => n.node.services.pubsub.getSubscribers(TASKS_TOPIC).length >= nodes.length - 1),
      nodes.map((n) => (fn: () => void) => {
        n.node.services.pubsub.addEventListener('subscription-change', fn)
        return () => n.node.services.pubsub.removeEventListener('subscription-change', fn)
      }),
      signal,
    )
  } catch (err) {
    await stopAll(nodes, dir)
    throw err
  }
  const stop = (): Promise<void> => stopAll(nodes, dir)
  return { nodes, capacities, stop, [Symbol.asyncDispose]: stop }
}

/** The capacity record a test node with this executor policy would publish (valid for an hour). */
export function testCapacity(peerId: string, policy: ExecutorPolicy): Capacity {
  return {
    peerId,
    cores: 1,
    memoryMB: policy.memoryMB ?? 256,
    features: [],
    price: policy.price ?? 0,
    seq: 1,
    expiresAt: Date.now() + 3_600_000,
    maxTasks: policy.maxTasks ?? 1,
    version: 'test',
  }
}

async function stopAll(nodes: MeshNode[], dir: string): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      await n.market.stop()
      await n.runtime.stop()
      await n.blobs.stop()
      await n.node.stop()
      await n.store.close()
    }),
  )
  // a blob write still finishing can refill a directory while it is removed: retry
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
}

/** Resolves when `check()` holds, re-checking whenever one of `sources` fires; rejects on `signal`. */
export async function waitFor(
  check: () => boolean,
  sources: Array<(fn: () => void) => () => void>,
  signal: AbortSignal,
): Promise<void> {
  if (check()) return
  await new Promise<void>((resolve, reject) => {
    const offs: Array<() => void> = []
    const done = (err?: unknown): void => {
      for (const off of offs) off()
      signal.removeEventListener('abort', onAbort)
      if (err === undefined) resolve()
      else reject(err)
    }
    const onAbort = (): void => done(signal.reason ?? new Error('timed out'))
    signal.addEventListener('abort', onAbort, { once: true })
    for (const s of sources) {
      offs.push(
        s(() => {
          if (check()) done()
        }),
      )
    }
  })
}

/** The first market event matching `match`, from now on; rejects on `signal`. */
export function nextEvent<T extends MarketEvent>(
  market: Market,
  match: (e: MarketEvent) => e is T,
  signal: AbortSignal,
): Promise<T>
export function nextEvent(
  market: Market,
  match: (e: MarketEvent) => boolean,
  signal: AbortSignal,
): Promise<MarketEvent>
export function nextEvent(
  market: Market,
  match: (e: MarketEvent) => boolean,
  signal: AbortSignal,
): Promise<MarketEvent> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      off()
      reject(signal.reason ?? new Error('timed out'))
    }
    const off = market.on((e) => {
      if (!match(e)) return
      off()
      signal.removeEventListener('abort', onAbort)
      resolve(e)
    })
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
