import * as fsp from 'node:fs/promises'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { BlobService, type BlobServiceInit, BlobStore, type BlobStoreFs } from '../../src/blobs/index.js'

export async function tempDir(): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'plusone-blobs-'))
  return { path, [Symbol.asyncDispose]: async () => rm(path, { recursive: true, force: true }) }
}

type Method = (...args: unknown[]) => Promise<unknown>

/**
 * A store file system whose temp-file handles (blobs being written) answer each method named
 * in `replace` with `replace[name](original, path)`: a full disk, a slow one, one that loses a
 * given file's writes.
 */
export function tempFileFs(
  replace: Partial<Record<'writev' | 'write', (original: Method, path: string) => Method>>,
): BlobStoreFs {
  return {
    ...fsp,
    open: (async (...args: Parameters<typeof fsp.open>) => {
      const handle = await fsp.open(...args)
      if (!String(args[0]).includes('.tmp')) return handle
      return new Proxy(handle, {
        get(target, prop) {
          const value: unknown = Reflect.get(target, prop)
          if (typeof value !== 'function') return value
          const bound = value.bind(target) as Method
          const by = replace[prop as keyof typeof replace]
          return by == null ? bound : by(bound, String(args[0]))
        },
      })
    }) as typeof fsp.open,
  }
}

/** Files in the store's temp directory (partial writes). */
export async function tempFiles(store: BlobStore): Promise<string[]> {
  return readdir(join(store.dir, '.tmp'))
}

export interface Peer {
  node: Libp2p
  store: BlobStore
  blobs: BlobService
}

export interface PeerOptions {
  blobs?: BlobServiceInit
  fs?: BlobStoreFs
  maxBlobBytes?: number
  /** See BlobStoreInit: 0 hashes every fetched blob on the store's thread. */
  hashThreadMinBytes?: number
}

/**
 * Starts `options.length` libp2p nodes on 127.0.0.1 (tcp + noise + yamux), each with its own
 * blob store and a started BlobService, and tells every node the others' addresses.
 */
export async function startPeers(dataDir: string, options: PeerOptions[]): Promise<Peer[]> {
  const peers = await Promise.all(
    options.map(async (opts, i) => {
      const node = await createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
      })
      const store = await BlobStore.open({
        dataDir: join(dataDir, `node-${i}`),
        fs: opts.fs,
        maxBlobBytes: opts.maxBlobBytes,
        hashThreadMinBytes: opts.hashThreadMinBytes,
      })
      const blobs = new BlobService({ registrar: node, dialer: node, store, logger: node.logger }, opts.blobs)
      await blobs.start()
      return { node, store, blobs }
    }),
  )
  for (const a of peers) {
    for (const b of peers) {
      if (a !== b) await a.node.peerStore.merge(b.node.peerId, { multiaddrs: b.node.getMultiaddrs() })
    }
  }
  return peers
}

export async function stopPeers(peers: Peer[]): Promise<void> {
  await Promise.all(peers.map(async (p) => p.blobs.stop()))
  await Promise.all(peers.map(async (p) => p.node.stop()))
  await Promise.all(peers.map(async (p) => p.store.close()))
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function bytesOf(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** Byte-for-byte equality with a readable failure. */
export function assertSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  if (actual.byteLength !== expected.byteLength) {
    throw new Error(`length ${actual.byteLength}, expected ${expected.byteLength}`)
  }
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength)
  const at = a.findIndex((byte, i) => byte !== expected[i])
  if (at !== -1) throw new Error(`bytes differ at offset ${at}`)
}
