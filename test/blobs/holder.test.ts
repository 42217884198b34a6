import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BLOB_PROTOCOL, type ServeHook } from '../../src/blobs/index.js'
import { lengthPrefixed } from '../../src/blobs/frames.js'
import { FrameBuffers, SentFrames } from '../../src/blobs/server.js'
import { BlobRequest } from '../../src/pb/blob.js'
import { assertSameBytes, bytesOf, type Peer, startPeers, stopPeers, tempDir, tempFileFs } from './helpers.js'

const CHUNK_BYTES = 64 * 1024
const MIB = 1024 * 1024

describe('a holder sending a blob', () => {
  it('waits for a fetcher that stops reading instead of queueing the blob in memory', async () => {
    const dir = await tempDir()
    const chunkBytes = 256 * 1024
    const size = 24 * MIB
    const peers: Peer[] = []
    // the bytes the holder's stream holds queued as it reads each next frame from disk
    let mostQueued = 0
    const watchQueue: ServeHook = () => {
      const [holder, fetcher] = peers as [Peer, Peer]
      const stream = holder.node
        .getConnections(fetcher.node.peerId)
        .flatMap((c) => c.streams)
        .find((s) => s.direction === 'inbound' && s.protocol === BLOB_PROTOCOL)
      mostQueued = Math.max(mostQueued, stream?.writeBufferLength ?? 0)
      return undefined
    }
    peers.push(
      ...(await startPeers(dir.path, [
        { blobs: { chunkBytes, idleTimeoutMs: 1000, serveHook: watchQueue } },
        {},
      ])),
    )
    const [holder, fetcher] = peers as [Peer, Peer]
    try {
      const cid = await holder.store.put(bytesOf(size, 21))
      const stream = await fetcher.node.dialProtocol(holder.node.peerId, BLOB_PROTOCOL)
      stream.maxReadBufferLength = 2 * size
      const closed = new Promise<void>((resolve) => stream.addEventListener('close', () => resolve()))
      // read the first megabyte (the holder's stream drains as the window opens), then stop: the
      // window runs out and the holder must wait
      let received = 0
      const readSome = new Promise<void>((resolve) => {
        stream.addEventListener('message', (evt) => {
          received += evt.data.byteLength
          if (received >= MIB && stream.readStatus === 'readable') {
            stream.pause()
            resolve()
          }
        })
      })
      stream.send(lengthPrefixed(BlobRequest.encode({ cid: cid.bytes, offset: 0 })))
      await readSome
      // the holder gives up on the stalled fetcher after its idle timeout
      await closed
      // before: after the stream's first drain the holder no longer waited at all, and queued the
      // rest of the blob in its stream's memory
      assert.ok(
        mostQueued <= 2 * chunkBytes,
        `the holder queued up to ${mostQueued} bytes for a fetcher that stopped after ${received}`,
      )
    } finally {
      await stopPeers(peers)
      await dir[Symbol.asyncDispose]()
    }
  })

  it('reuses its frame buffers, and fetches at once over one connection get every byte right', async () => {
    const dir = await tempDir()
    // the fetcher's disk writes 64 MiB/s, slower than the network, so the fetcher pauses its
    // streams at its high-water mark, the holder's windows run out, and its frames wait in its
    // stream and noise buffers
    const slowDisk = tempFileFs({
      writev:
        (write) =>
        async (...a) => {
          const bytes = (a[0] as Uint8Array[]).reduce((n, b) => n + b.byteLength, 0)
          await new Promise((resolve) => setTimeout(resolve, Math.ceil(bytes / 64_000)))
          return write(...a)
        },
    })
    const peers = await startPeers(dir.path, [{ blobs: { chunkBytes: CHUNK_BYTES } }, { fs: slowDisk }])
    const [holder, fetcher] = peers as [Peer, Peer]
    try {
      const blobs = [1, 2, 3].map((seed) => bytesOf(12 * MIB + seed * 1000, 30 + seed))
      const cids = await Promise.all(blobs.map(async (b) => holder.store.put(b)))
      // three streams share one connection: its socket and noise fill up, and each stream's frames
      // wait behind the others' (a buffer reused before noise encrypted it would fail the hash)
      await fetcher.node.dial(holder.node.peerId)
      const fetched = await Promise.all(
        cids.map(async (cid) => fetcher.blobs.fetch(cid, { holders: [holder.node.peerId] })),
      )
      assert.deepEqual(
        fetched.map((f) => f.size),
        blobs.map((b) => b.byteLength),
      )
      for (const [i, cid] of cids.entries()) {
        assertSameBytes(await fetcher.store.get(cid, { verify: true }), blobs[i]!)
      }
      assert.equal(fetcher.node.getConnections(holder.node.peerId).length, 1)
      const frames = blobs.reduce((n, b) => n + Math.ceil(b.byteLength / CHUNK_BYTES), 0)
      const { frameBuffers } = holder.blobs.stats()
      assert.ok(frameBuffers < frames / 4, `${frameBuffers} frame buffers allocated for ${frames} frames`)
    } finally {
      await stopPeers(peers)
      await dir[Symbol.asyncDispose]()
    }
  })

  it('gives a frame buffer back only once noise has encrypted all its bytes', () => {
    const pool = new FrameBuffers(16, 8)
    const stream = { writeBufferLength: 0 }
    const noise = { writeBufferLength: 0 }
    const sent = new SentFrames(stream, pool, noise)
    const reused = (): Buffer => {
      const b = pool.take()
      pool.give([b])
      return b
    }
    const a = Buffer.alloc(16)
    // 4 of its 10 bytes wait in the stream (yamux window), 6 in noise (socket full)
    stream.writeBufferLength = 4
    noise.writeBufferLength = 6
    sent.sent(a, 10)
    assert.notEqual(reused(), a)
    noise.writeBufferLength = 0
    sent.release()
    assert.notEqual(reused(), a, 'its last 4 bytes are still in the stream')
    // the window opens: the last 4 go to noise, whose socket is full
    stream.writeBufferLength = 0
    noise.writeBufferLength = 4
    sent.release()
    assert.notEqual(reused(), a, 'noise has not encrypted its last 4 bytes')
    // the next frame goes to noise whole and waits there: noise holds no more than its bytes,
    // the last it was given, so all of `a` was encrypted
    const b = Buffer.alloc(16)
    noise.writeBufferLength = 11
    sent.sent(b, 10)
    assert.notEqual(reused(), a, "one byte of noise's 11 may be the last of `a`")
    noise.writeBufferLength = 10
    sent.release()
    assert.equal(reused(), a)
    assert.notEqual(pool.take(), b)
    noise.writeBufferLength = 0
    sent.release()
    assert.equal(pool.take(), b)
  })
})
