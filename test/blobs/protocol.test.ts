import assert from 'node:assert/strict'
import * as fsp from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import {
  BLOB_PROTOCOL,
  blobCidOf,
  type BlobStoreFs,
  type ServeHook,
  WRITER_HIGH_WATER_BYTES,
} from '../../src/blobs/index.js'
import { BlobRequest, BlobResponse } from '../../src/pb/blob.js'
import {
  assertSameBytes,
  bytesOf,
  type Peer,
  startPeers,
  stopPeers,
  tempDir,
  tempFileFs,
  tempFiles,
} from './helpers.js'

const CHUNK_BYTES = 64 * 1024

/** Flips one bit of the first chunk of every blob served: a corrupt holder. */
const corruptFirstChunk: ServeHook = ({ position, chunk }) => {
  if (position === 0) chunk[chunk.byteLength - 1]! ^= 0x01
  return undefined
}

/** A store file system that counts temp files opened (i.e. writes started). */
function countingFs(): { fs: BlobStoreFs; writesStarted: () => number } {
  let writes = 0
  const fs: BlobStoreFs = {
    ...fsp,
    open: (async (...args: Parameters<typeof fsp.open>) => {
      if (String(args[0]).includes('.tmp')) writes++
      return fsp.open(...args)
    }) as typeof fsp.open,
  }
  return { fs, writesStarted: () => writes }
}

/** Opens a raw blob stream, sends `bytes`, and returns the decoded response header, if any. */
async function rawRequest(from: Peer, to: Peer, bytes: Uint8Array): Promise<BlobResponse | undefined> {
  const stream = await from.node.dialProtocol(to.node.peerId, BLOB_PROTOCOL)
  stream.send(bytes)
  await stream.close()
  const received: Uint8Array[] = []
  try {
    for await (const chunk of stream) received.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
  } catch {
    return undefined // the holder reset the stream
  }
  const all = Buffer.concat(received)
  if (all.byteLength === 0) return undefined
  return BlobResponse.decode(all.subarray(1, 1 + all[0]!))
}

function frame(payload: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from([payload.byteLength]), payload])
}

describe('/plusone/blob/1.0.0', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let peers: Peer[]
  let good: Peer
  let corrupt: Peer
  let fetcher: Peer
  let counting: ReturnType<typeof countingFs>

  before(async () => {
    dir = await tempDir()
    counting = countingFs()
    peers = await startPeers(dir.path, [
      { blobs: { chunkBytes: CHUNK_BYTES } },
      { blobs: { chunkBytes: CHUNK_BYTES, serveHook: corruptFirstChunk } },
      { fs: counting.fs },
    ])
    ;[good, corrupt, fetcher] = peers as [Peer, Peer, Peer]
  })

  after(async () => {
    await stopPeers(peers)
    await dir[Symbol.asyncDispose]()
  })

  it('fetches a blob over the network byte-identical and stores it', async () => {
    const bytes = bytesOf(1_000_000, 2)
    const cid = await good.store.put(bytes)
    const result = await fetcher.blobs.fetch(cid, { holders: [good.node.peerId] })
    assert.ok(result.cid.equals(cid))
    assert.equal(result.size, bytes.byteLength)
    assert.ok(result.holder?.equals(good.node.peerId))
    assertSameBytes(await fetcher.store.get(cid, { verify: true }), bytes)

    const again = await fetcher.blobs.fetch(cid.toString(), { holders: [good.node.peerId] })
    assert.equal(again.holder, undefined, 'a stored blob is not fetched again')
  })

  it('detects a corrupt holder, stores nothing from it, and uses the next holder', async () => {
    const bytes = bytesOf(300_000, 3)
    const cid = await good.store.put(bytes)
    await corrupt.store.put(bytes)
    const servedBefore = corrupt.blobs.stats().servedStreams

    const result = await fetcher.blobs.fetch(cid, { holders: [corrupt.node.peerId, good.node.peerId] })
    assert.ok(result.holder?.equals(good.node.peerId))
    assert.equal(corrupt.blobs.stats().servedStreams, servedBefore + 1, 'the corrupt holder was asked first')
    assertSameBytes(await fetcher.store.get(cid, { verify: true }), bytes)
    assert.deepEqual(await tempFiles(fetcher.store), [])
  })

  it('with only a corrupt holder, fails with BlobHashMismatchError and stores nothing', async () => {
    const bytes = bytesOf(200_000, 4)
    const cid = await corrupt.store.put(bytes)
    await assert.rejects(fetcher.blobs.fetch(cid, { holders: [corrupt.node.peerId] }), {
      name: 'BlobHashMismatchError',
    })
    assert.equal(await fetcher.store.has(cid), false)
    assert.deepEqual(await tempFiles(fetcher.store), [])
  })

  it('refuses a blob over the caller limit before writing any of it', async () => {
    const bytes = bytesOf(2_000_000, 5)
    const cid = await good.store.put(bytes)
    const writesBefore = counting.writesStarted()
    await assert.rejects(fetcher.blobs.fetch(cid, { holders: [good.node.peerId], maxBytes: 1_999_999 }), {
      name: 'BlobTooLargeError',
    })
    assert.equal(counting.writesStarted(), writesBefore, 'no temp file was opened')
    assert.equal(await fetcher.store.has(cid), false)
  })

  it('reports an unknown CID as BlobNotFoundError', async () => {
    const cid = blobCidOf(bytesOf(10, 6))
    await assert.rejects(fetcher.blobs.fetch(cid, { holders: [good.node.peerId, corrupt.node.peerId] }), {
      name: 'BlobNotFoundError',
    })
    await assert.rejects(fetcher.blobs.fetch(cid, { holders: [] }), { name: 'BlobNotFoundError' })
    await assert.rejects(fetcher.blobs.fetch('bafy-not-a-cid', { holders: [] }), {
      name: 'InvalidBlobCidError',
    })
  })

  it('survives malformed requests and keeps serving', async () => {
    const bytes = bytesOf(100_000, 7)
    const cid = await good.store.put(bytes)
    const dagPb = Uint8Array.from(cid.bytes)
    dagPb[1] = 0x70
    // An oversize length prefix, then a length prefix cut short: the holder resets.
    assert.equal(await rawRequest(fetcher, good, Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f])), undefined)
    assert.equal(await rawRequest(fetcher, good, Uint8Array.from([0x80])), undefined)
    assert.equal(await rawRequest(fetcher, good, new Uint8Array(0)), undefined)
    // Well-framed garbage, a non-blob CID and an offset past the end: BAD_REQUEST.
    const bad = [
      frame(Uint8Array.from([0xff, 0xfe, 0xfd])),
      frame(BlobRequest.encode({ cid: dagPb })),
      frame(BlobRequest.encode({ cid: cid.bytes, offset: bytes.byteLength + 1 })),
    ]
    for (const request of bad) {
      assert.equal((await rawRequest(fetcher, good, request))?.status, BlobResponse.Status.BAD_REQUEST)
    }
    const ok = await rawRequest(fetcher, good, frame(BlobRequest.encode({ cid: cid.bytes, offset: 99_000 })))
    assert.deepEqual(ok, { status: BlobResponse.Status.OK, size: bytes.byteLength })

    await fetcher.blobs.fetch(cid, { holders: [good.node.peerId] })
    assertSameBytes(await fetcher.store.get(cid), bytes)
  })

  it('shares one transfer among 5 concurrent fetches of one CID', async () => {
    const bytes = bytesOf(3_000_000, 8)
    const cid = await good.store.put(bytes)
    const served = good.blobs.stats().servedStreams
    const transfers = fetcher.blobs.stats().transfers
    const results = await Promise.all(
      Array.from({ length: 5 }, async () => fetcher.blobs.fetch(cid, { holders: [good.node.peerId] })),
    )
    for (const result of results) assert.equal(result.size, bytes.byteLength)
    assert.equal(good.blobs.stats().servedStreams - served, 1)
    assert.equal(fetcher.blobs.stats().transfers - transfers, 1)
    assertSameBytes(await fetcher.store.get(cid, { verify: true }), bytes)
  })

  it('aborts a fetch with its signal, before and during the transfer', async () => {
    const bytes = bytesOf(2_000_000, 9)
    const cid = await good.store.put(bytes)
    await assert.rejects(
      fetcher.blobs.fetch(cid, { holders: [good.node.peerId], signal: AbortSignal.abort() }),
      { name: 'AbortError' },
    )

    // A holder whose hook aborts the requester's controller once the first chunk goes out.
    const controller = new AbortController()
    const local = await tempDir()
    const [slow, requester] = (await startPeers(local.path, [
      { blobs: { chunkBytes: CHUNK_BYTES, serveHook: () => void controller.abort() } },
      {},
    ])) as [Peer, Peer]
    try {
      await slow.store.put(bytes)
      await assert.rejects(
        requester.blobs.fetch(cid, { holders: [slow.node.peerId], signal: controller.signal }),
        { name: 'AbortError' },
      )
      assert.equal(await requester.store.has(cid), false)
    } finally {
      await stopPeers([slow, requester])
      await local[Symbol.asyncDispose]()
    }
  })

  it('a busy holder is skipped for the next one', async () => {
    const local = await tempDir()
    const [busy, spare, requester] = (await startPeers(local.path, [
      { blobs: { maxConcurrentServes: 0 } },
      {},
      {},
    ])) as [Peer, Peer, Peer]
    try {
      const bytes = bytesOf(10_000, 10)
      const cid = await busy.store.put(bytes)
      await spare.store.put(bytes)
      await assert.rejects(requester.blobs.fetch(cid, { holders: [busy.node.peerId] }), {
        name: 'BlobHolderBusyError',
      })
      const result = await requester.blobs.fetch(cid, { holders: [busy.node.peerId, spare.node.peerId] })
      assert.ok(result.holder?.equals(spare.node.peerId))
      assert.equal(busy.blobs.stats().refusedBusy, 2)
    } finally {
      await stopPeers([busy, spare, requester])
      await local[Symbol.asyncDispose]()
    }
  })
})

describe('shared transfers', () => {
  it('one caller aborting does not cancel the transfer another caller still waits for', async () => {
    const dir = await tempDir()
    const quitter = new AbortController()
    // The holder's hook makes the first caller give up once bytes are on the wire.
    const [holder, requester] = (await startPeers(dir.path, [
      { blobs: { chunkBytes: CHUNK_BYTES, serveHook: () => void quitter.abort() } },
      {},
    ])) as [Peer, Peer]
    try {
      const bytes = bytesOf(1_500_000, 11)
      const cid = await holder.store.put(bytes)
      const holders = [holder.node.peerId]
      // The patient caller starts the transfer, so the outcome cannot depend on scheduling.
      const [second, first] = await Promise.allSettled([
        requester.blobs.fetch(cid, { holders }),
        requester.blobs.fetch(cid, { holders, signal: quitter.signal }),
      ])
      assert.equal(first.status, 'rejected')
      assert.equal((first as PromiseRejectedResult).reason.name, 'AbortError')
      assert.equal(second.status, 'fulfilled')
      assert.equal(holder.blobs.stats().servedStreams, 1)
      assertSameBytes(await requester.store.get(cid, { verify: true }), bytes)
    } finally {
      await stopPeers([holder, requester])
      await dir[Symbol.asyncDispose]()
    }
  })
})

describe('stalled holders', () => {
  it('drops a holder that stops sending and uses the next one', async () => {
    const dir = await tempDir()
    let release = (): void => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const [stalled, spare, requester] = (await startPeers(dir.path, [
      { blobs: { serveHook: async () => held } },
      {},
      { blobs: { idleTimeoutMs: 200 } },
    ])) as [Peer, Peer, Peer]
    try {
      const bytes = bytesOf(50_000, 12)
      const cid = await stalled.store.put(bytes)
      await spare.store.put(bytes)
      await assert.rejects(requester.blobs.fetch(cid, { holders: [stalled.node.peerId] }), {
        name: 'BlobHolderTimeoutError',
      })
      const result = await requester.blobs.fetch(cid, { holders: [stalled.node.peerId, spare.node.peerId] })
      assert.ok(result.holder?.equals(spare.node.peerId))
      assertSameBytes(await requester.store.get(cid, { verify: true }), bytes)
    } finally {
      release()
      await stopPeers([stalled, spare, requester])
      await dir[Symbol.asyncDispose]()
    }
  })
})

describe('fetching with the hash on the store thread', () => {
  /** Serves the first MiB, then breaks off: a holder that dies mid-transfer. */
  const truncate: ServeHook = ({ position }) => {
    if (position >= 1024 * 1024) throw new Error('holder died')
    return undefined
  }

  it('stores verified bytes, refuses a corrupt chunk, and a truncated transfer leaves no blob', async () => {
    const dir = await tempDir()
    const [good, corrupt, truncating, fetcher] = (await startPeers(dir.path, [
      {},
      { blobs: { serveHook: corruptFirstChunk } },
      { blobs: { serveHook: truncate } },
      { hashThreadMinBytes: 0 },
    ])) as [Peer, Peer, Peer, Peer]
    try {
      const bytes = bytesOf(3 * 1024 * 1024 + 5, 13)
      const cid = await good.store.put(bytes)
      await corrupt.store.put(bytes)
      await truncating.store.put(bytes)

      await assert.rejects(fetcher.blobs.fetch(cid, { holders: [corrupt.node.peerId] }), {
        name: 'BlobHashMismatchError',
      })
      assert.equal(await fetcher.store.has(cid), false)
      assert.deepEqual(await tempFiles(fetcher.store), [])

      await assert.rejects(fetcher.blobs.fetch(cid, { holders: [truncating.node.peerId] }))
      assert.equal(truncating.blobs.stats().servedBytes, 1024 * 1024, 'the holder sent the first MiB only')
      assert.equal(await fetcher.store.has(cid), false)
      assert.deepEqual(await tempFiles(fetcher.store), [])

      const result = await fetcher.blobs.fetch(cid, {
        holders: [corrupt.node.peerId, truncating.node.peerId, good.node.peerId],
      })
      assert.ok(result.holder?.equals(good.node.peerId))
      assertSameBytes(await fetcher.store.get(cid, { verify: true }), bytes)
      assert.deepEqual(await tempFiles(fetcher.store), [])
    } finally {
      await stopPeers([good, corrupt, truncating, fetcher])
      await dir[Symbol.asyncDispose]()
    }
  })
})

describe('a fetch paused for its disk', () => {
  it('keeps the bytes a holder sends, and its close, while the stream is paused', async () => {
    const dir = await tempDir()
    // The fetcher's disk accepts nothing until the holder has closed the stream, so the fetcher
    // pauses the stream at its high-water mark; the holder sends its last chunk only then.
    let openDisk = (): void => {}
    const diskOpen = new Promise<void>((resolve) => {
      openDisk = resolve
    })
    let paused = (): void => {}
    const fetcherPaused = new Promise<void>((resolve) => {
      paused = resolve
    })
    const slowDisk = tempFileFs({
      writev:
        (write) =>
        async (...a) =>
          diskOpen.then(async () => write(...a)),
    })
    const size = WRITER_HIGH_WATER_BYTES + 100_000
    const peers: Peer[] = []
    const watchFetcher: ServeHook = ({ position, chunk }) => {
      if (position === 0) {
        const [holder, fetcher] = peers as [Peer, Peer]
        const stream = fetcher.node
          .getConnections(holder.node.peerId)
          .flatMap((c) => c.streams)
          .find((s) => s.direction === 'outbound' && s.protocol === BLOB_PROTOCOL)
        assert.ok(stream != null, 'the fetcher has its blob stream open')
        const pause = stream.pause.bind(stream)
        stream.pause = () => {
          pause()
          paused()
        }
        stream.addEventListener('remoteCloseWrite', () => openDisk(), { once: true })
      }
      return position + chunk.byteLength === size ? fetcherPaused : undefined
    }
    peers.push(...(await startPeers(dir.path, [{ blobs: { serveHook: watchFetcher } }, { fs: slowDisk }])))
    const [holder, fetcher] = peers as [Peer, Peer]
    try {
      const bytes = bytesOf(size, 14)
      const cid = await holder.store.put(bytes)
      const result = await fetcher.blobs.fetch(cid, { holders: [holder.node.peerId] })
      assert.equal(result.size, size)
      assertSameBytes(await fetcher.store.get(cid, { verify: true }), bytes)
    } finally {
      openDisk()
      paused()
      await stopPeers(peers)
      await dir[Symbol.asyncDispose]()
    }
  })
})
