/**
 * Shared pieces of the hostile-peer suite (issue 11): an attacker is a plain libp2p node (or a
 * daemon with a `--fault`) that speaks the wire protocols directly, never through the market.
 */
import { randomBytes } from 'node:crypto'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import type { Daemon } from '../../src/daemon/index.js'
import { blobCidOf } from '../../src/blobs/index.js'
import { FUEL_PER_GFUEL, type VerifiedReceipt } from '../../src/ledger/index.js'
import { encodeSpec, NONCE_BYTES, signAnnouncement, type TaskSpec } from '../../src/market/index.js'
import { createNode, type PlusoneNode } from '../../src/node/index.js'
import { waitFor } from '../market/helpers.js'

export const idOf = (d: Daemon): string => d.node.peerId.toString()

/** Micro-credits → credits, as a number a person reads. */
export const credits = (micro: bigint): number => Number(micro) / 1e6

export async function receiptsOf(d: Daemon): Promise<VerifiedReceipt[]> {
  const out: VerifiedReceipt[] = []
  for await (const r of d.ledger.receipts()) out.push(r)
  return out
}

/** The most a submitter offered for one task: its fuel limit at its max price, in micro-credits. */
export function offered(fuel: number, maxPrice: number): bigint {
  return (BigInt(fuel) * BigInt(maxPrice)) / FUEL_PER_GFUEL
}

/** Total size of the files under `dir`, in bytes (what a node keeps on disk). */
export async function diskBytes(dir: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size
  }
  return total
}

/**
 * An attacker: a bare plusone libp2p node (gossipsub, DHT, the wire protocols; no market, no
 * ledger) dialled to `targets`, subscribed to `topics`, resolved once every target sees it
 * subscribed to each of them.
 */
export async function attacker(
  targets: Daemon[],
  topics: string[],
  privateKey?: PrivateKey,
): Promise<PlusoneNode> {
  const node = await createNode({
    privateKey: privateKey ?? (await generateKeyPair('Ed25519')),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    topics,
  })
  for (const t of topics) node.services.pubsub.subscribe(t)
  const signal = AbortSignal.timeout(20_000)
  for (const d of targets) await node.dial(d.node.getMultiaddrs()[0], { signal })
  const me = node.peerId.toString()
  const them = targets.map((d) => d.node.peerId.toString())
  const pubsub = node.services.pubsub
  // the attacker must see them subscribed too, or it publishes to nobody
  await waitFor(
    () => topics.every((t) => them.every((id) => pubsub.getSubscribers(t).some((p) => p.toString() === id))),
    [
      (fn) => {
        pubsub.addEventListener('subscription-change', fn)
        return () => pubsub.removeEventListener('subscription-change', fn)
      },
    ],
    signal,
  )
  await Promise.all(
    targets.map((d) =>
      waitFor(
        () => topics.every((t) => d.node.services.pubsub.getSubscribers(t).some((p) => p.toString() === me)),
        [
          (fn) => {
            d.node.services.pubsub.addEventListener('subscription-change', fn)
            return () => d.node.services.pubsub.removeEventListener('subscription-change', fn)
          },
        ],
        signal,
      ),
    ),
  )
  return node
}

/**
 * A task spec an attacker makes up: blobs nobody holds, small limits, valid for ten minutes.
 * `over` replaces any field.
 */
export function madeUpSpec(submitter: string, over: Partial<TaskSpec> = {}): TaskSpec {
  const now = Date.now()
  return {
    moduleCid: blobCidOf(randomBytes(32)),
    inputCid: blobCidOf(randomBytes(32)),
    fuel: 1000,
    memoryBytes: 65536,
    maxOutputBytes: 64,
    replicas: 1,
    deadlineMs: 1000,
    maxPrice: 1,
    jobId: 'made-up',
    nonce: randomBytes(NONCE_BYTES),
    submitter,
    createdAt: now,
    expiresAt: now + 600_000,
    ...over,
  }
}

/**
 * A stall announcement (attack 3 of issue 11): a made-up task of `submitter`'s own, round 2 so
 * every executor bids on it without sampling; the attacker never answers the bids.
 */
export async function stallAnnouncement(
  key: PrivateKey,
  submitter: string,
  seq: number,
): Promise<Uint8Array> {
  const spec = madeUpSpec(submitter, {
    fuel: 1_000_000,
    memoryBytes: 16 * 1024 * 1024,
    deadlineMs: 30_000,
    maxPrice: 1_000_000_000,
    jobId: `stall-${seq}`,
  })
  return signAnnouncement(key, encodeSpec(spec), 2)
}
