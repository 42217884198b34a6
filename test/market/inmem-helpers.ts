/**
 * A mesh of real Markets, SettlementServices and ledgers on an InMemoryNetwork: no sockets, no
 * libp2p. Blobs live in real BlobStores (temp dirs) and are fetched by copying from the holder;
 * the runtime is a stand-in that reverses its input (or answers wrongly, for a faulty node), so a
 * test of market logic runs in well under a second.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { type BlobCid, BlobStore, parseBlobCid } from '../../src/blobs/index.js'
import type { Capacity } from '../../src/capacity/index.js'
import { Ledger, MemoryLedgerStore, SettlementService } from '../../src/ledger/index.js'
import {
  InMemoryNetwork,
  type InMemoryNetworkInit,
  Market,
  type MarketComponents,
  type MarketInit,
} from '../../src/market/index.js'
import type { Outcome, RunRequest } from '../../src/runtime/index.js'
import { openStore, type Store } from '../../src/store/index.js'
import { testCapacity } from './helpers.js'

/** Every receipt a ledger holds. */
export async function receiptsOf(ledger: Ledger): Promise<number> {
  let n = 0
  for await (const _ of ledger.receipts()) n++
  return n
}

export interface MemNode {
  id: string
  key: PrivateKey
  market: Market
  ledger: Ledger
  settlement: SettlementService
  store: Store
  blobStore: BlobStore
  components: MarketComponents
}

export interface MemMesh {
  net: InMemoryNetwork
  nodes: MemNode[]
  /** Starts a fresh Market on node i's journal (a restarted daemon). */
  restartMarket(i: number, init?: MarketInit): Promise<Market>
  stop(): Promise<void>
}

const sha = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())

/** What the stand-in runtime computes for an input: its bytes reversed. */
export const expectedOutput = (input: Uint8Array): Uint8Array => new Uint8Array([...input].reverse())

function fakeRuntime(wrong: boolean): { run(req: RunRequest): Promise<Outcome> } {
  return {
    async run(req) {
      const output = wrong ? sha(req.input) : expectedOutput(req.input)
      return { status: 'ok', fuelUsed: BigInt(1_000 + req.input.byteLength), output, outputHash: sha(output) }
    },
  }
}

export async function startMemMesh(
  inits: Array<MarketInit & { wrong?: boolean }>,
  netInit: InMemoryNetworkInit = {},
): Promise<MemMesh> {
  const dir = await mkdtemp(join(tmpdir(), 'plusone-inmem-'))
  const net = new InMemoryNetwork(netInit)
  const capacities: Capacity[] = []
  const stores = new Map<string, BlobStore>()
  const nodes: MemNode[] = []
  const marketInits: MarketInit[] = []
  for (let i = 0; i < inits.length; i++) {
    const key = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key)
    const id = peerId.toString()
    const { transport, pubsub } = net.join(id)
    const store = await openStore(join(dir, `node-${i}`, 'db'))
    const blobStore = await BlobStore.open({ dataDir: join(dir, `node-${i}`) })
    stores.set(id, blobStore)
    const logger = defaultLogger()
    const ledger = await Ledger.open({ store: new MemoryLedgerStore() })
    const settlement = new SettlementService({ privateKey: key, pubsub, ledger, logger })
    settlement.start()
    const { wrong, ...init } = inits[i]
    const policy = init.executor ?? {}
    capacities.push(testCapacity(id, policy))
    const components: MarketComponents = {
      peerId,
      privateKey: key,
      transport,
      pubsub,
      blobStore,
      blobs: {
        // the blob protocol, played by copying from the holder's store (hash-checked by put)
        async fetch(wanted, { holders }) {
          const cid = typeof wanted === 'string' ? parseBlobCid(wanted) : (wanted as BlobCid)
          const from = holders?.[0]?.toString() ?? ''
          const holder = stores.get(from)
          if (holder == null || !net.reachable(id, from)) throw new Error('holder unreachable')
          const bytes = await holder.get(cid)
          const stored = await blobStore.put(bytes)
          if (!stored.equals(cid))
            throw Object.assign(new Error('hash mismatch'), { name: 'BlobHashMismatchError' })
          return { cid: stored, size: bytes.byteLength, holder: holders?.[0] }
        },
      },
      runtime: fakeRuntime(wrong === true),
      db: store.sublevel('market'),
      capacity: { known: () => capacities },
      logger,
    }
    const marketInit: MarketInit = {
      ...init,
      onSettled: (s) => settlement.settleTask(s),
    }
    marketInits.push(marketInit)
    const market = new Market(components, marketInit)
    await market.start()
    nodes.push({ id, key, market, ledger, settlement, store, blobStore, components })
  }
  return {
    net,
    nodes,
    async restartMarket(i, init) {
      const n = nodes[i]
      await n.market.stop()
      n.market = new Market(n.components, { ...marketInits[i], ...init })
      await n.market.start()
      return n.market
    },
    async stop() {
      for (const n of nodes) {
        await n.market.stop()
        n.settlement.stop()
      }
      net.close()
      for (const n of nodes) await n.store.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
