import assert from 'node:assert/strict'
import * as fsp from 'node:fs/promises'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import {
  type BlobCid,
  BlobStore,
  type BlobStoreFs,
  type BlobWriter,
  blobCidOf,
  MAX_BLOB_BYTES,
  parseBlobCid,
} from '../../src/blobs/index.js'
import { assertSameBytes, bytesOf, tempDir, tempFileFs, tempFiles } from './helpers.js'

const enospc = (): Error =>
  Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })

/** A file system whose temp-file writes fail with ENOSPC: a full disk. */
function fullDisk(): BlobStoreFs {
  const failing = () => async () => Promise.reject(enospc())
  return tempFileFs({ writev: failing, write: failing })
}

async function blobFiles(store: BlobStore): Promise<string[]> {
  const out: string[] = []
  for await (const name of store.list()) out.push(name)
  return out
}

describe('BlobStore', () => {
  it('round-trips bytes under their raw sha256 CIDv1, and put is idempotent', async () => {
    await using dir = await tempDir()
    const store = await BlobStore.open({ dataDir: dir.path })
    const bytes = bytesOf(300_000)
    const cid = await store.put(bytes)
    assert.equal(cid.version, 1)
    assert.equal(cid.code, 0x55)
    assert.equal(cid.multihash.code, 0x12)
    assert.ok(cid.equals(blobCidOf(bytes)))
    assertSameBytes(await store.get(cid), bytes)
    assertSameBytes(await store.get(cid, { verify: true }), bytes)
    assert.equal(await store.has(cid), true)
    assert.equal(await store.size(cid), bytes.byteLength)

    const again = await store.put(bytes)
    assert.ok(again.equals(cid))
    assert.deepEqual(await blobFiles(store), [cid.toString()])
    assert.deepEqual(await tempFiles(store), [])

    const empty = await store.put(new Uint8Array(0))
    assertSameBytes(await store.get(empty), new Uint8Array(0))
  })

  it('streams a byte range in bounded chunks', async () => {
    await using dir = await tempDir()
    const store = await BlobStore.open({ dataDir: dir.path })
    const bytes = bytesOf(100_000)
    const cid = await store.put(bytes)
    const chunks: Uint8Array[] = []
    for await (const chunk of store.read(cid, { offset: 1_000, length: 50_000, chunkBytes: 8_192 })) {
      assert.ok(chunk.byteLength <= 8_192)
      chunks.push(chunk)
    }
    assertSameBytes(Buffer.concat(chunks), bytes.subarray(1_000, 51_000))
  })

  it('deletes, and reports a missing blob as BlobNotFoundError', async () => {
    await using dir = await tempDir()
    const store = await BlobStore.open({ dataDir: dir.path })
    const cid = await store.put(bytesOf(10))
    // asked once before (the store then remembers it): a delete must still be seen
    assert.equal(await store.has(cid), true)
    assert.equal(await store.size(cid), 10)
    assert.equal(await store.delete(cid), true)
    assert.equal(await store.delete(cid), false)
    assert.equal(await store.has(cid), false)
    await assert.rejects(store.get(cid), { name: 'BlobNotFoundError' })
    await assert.rejects(store.size(cid), { name: 'BlobNotFoundError' })
    await assert.rejects(store.openFile(cid), { name: 'BlobNotFoundError' })
  })

  it('refuses a blob over the size limit', async () => {
    await using dir = await tempDir()
    assert.equal(MAX_BLOB_BYTES, 64 * 1024 * 1024)
    const store = await BlobStore.open({ dataDir: dir.path, maxBlobBytes: 1_000 })
    await assert.rejects(store.put(bytesOf(1_001)), { name: 'BlobTooLargeError' })
    const writer = await store.writer()
    writer.write(bytesOf(600))
    assert.throws(() => writer.write(bytesOf(600)), { name: 'BlobTooLargeError' })
    await writer.abort()
    assert.deepEqual(await tempFiles(store), [])
  })

  it('detects a blob damaged on disk when verifying', async () => {
    await using dir = await tempDir()
    const store = await BlobStore.open({ dataDir: dir.path })
    const bytes = bytesOf(5_000)
    const cid = await store.put(bytes)
    const shard = (await readdir(store.dir)).find((d) => d !== '.tmp')!
    const damaged = Uint8Array.from(bytes)
    damaged[4_321]! ^= 1
    await writeFile(join(store.dir, shard, cid.toString()), damaged)
    await assert.rejects(store.get(cid, { verify: true }), { name: 'BlobHashMismatchError' })
  })

  it('a full disk gives BlobStoreFullError and leaves nothing behind', async () => {
    await using dir = await tempDir()
    const store = await BlobStore.open({ dataDir: dir.path, fs: fullDisk() })
    const bytes = bytesOf(70_000)
    await assert.rejects(store.put(bytes), { name: 'BlobStoreFullError' })
    assert.equal(await store.has(blobCidOf(bytes)), false)
    assert.deepEqual(await tempFiles(store), [])
    assert.deepEqual(await blobFiles(store), [])
  })

  it('a crash mid-write leaves no partial blob visible, and reopening sweeps the temp file', async () => {
    await using dir = await tempDir()
    const bytes = bytesOf(200_000)
    const cid = blobCidOf(bytes)
    const store = await BlobStore.open({ dataDir: dir.path })
    const writer = await store.writer()
    writer.write(bytes.subarray(0, 100_000))
    await writer.drain()
    // The process "dies" here: no commit, no abort.
    assert.equal(await store.has(cid), false)
    assert.deepEqual(await blobFiles(store), [])
    assert.equal((await tempFiles(store)).length, 1)

    const reopened = await BlobStore.open({ dataDir: dir.path })
    assert.deepEqual(await tempFiles(reopened), [])
    assert.equal(await reopened.has(cid), false)
    await writer.abort() // releases the dead writer's file descriptor; its file is already gone
    assert.ok((await reopened.put(bytes)).equals(cid))
    assertSameBytes(await reopened.get(cid, { verify: true }), bytes)
  })

  it('a failure at the final rename leaves nothing visible', async () => {
    await using dir = await tempDir()
    const fs: BlobStoreFs = { ...fsp, rename: async () => Promise.reject(new Error('EIO: simulated crash')) }
    const store = await BlobStore.open({ dataDir: dir.path, fs })
    const bytes = bytesOf(1_000)
    await assert.rejects(store.put(bytes), /EIO/)
    assert.equal(await store.has(blobCidOf(bytes)), false)
    assert.deepEqual(await tempFiles(store), [])
  })
})

/** Writes `bytes` and commits as a fetch does: on any failure the writer is aborted. */
async function store1(writer: BlobWriter, bytes: Uint8Array, expected: BlobCid): Promise<BlobCid> {
  try {
    writeInPieces(writer, bytes)
  } catch (err) {
    await writer.abort()
    throw err
  }
  return writer.commit(expected)
}

/** Writes `bytes` in pieces of varying sizes (so pieces straddle the writer's batch buffers). */
function writeInPieces(writer: { write(b: Uint8Array): void }, bytes: Uint8Array): void {
  const sizes = [1, 65_537, 3, 1_048_575, 250_000, 2_097_153]
  for (let at = 0, i = 0; at < bytes.byteLength; i++) {
    const n = Math.min(sizes[i % sizes.length]!, bytes.byteLength - at)
    writer.write(bytes.subarray(at, at + n))
    at += n
  }
}

describe('BlobStore hashing large blobs on its thread', () => {
  const big = bytesOf(5 * 1024 * 1024 + 3, 21)
  const bigCid = blobCidOf(big)

  it('stores bytes written in any pieces under the CID of the whole, verified', async () => {
    await using dir = await tempDir()
    const store = await BlobStore.open({ dataDir: dir.path, hashThreadMinBytes: 4 * 1024 * 1024 })
    try {
      const writer = await store.writer({ expectedBytes: big.byteLength })
      writeInPieces(writer, big)
      assert.ok((await writer.commit(bigCid)).equals(bigCid))
      assertSameBytes(await store.get(bigCid, { verify: true }), big)
      assert.deepEqual(await tempFiles(store), [])
      // two blobs at once on the one thread, each its own hash
      const other = bytesOf(4 * 1024 * 1024, 22)
      const w1 = await store.writer({ expectedBytes: other.byteLength })
      const w2 = await store.writer({ expectedBytes: big.byteLength })
      writeInPieces(w1, other)
      writeInPieces(w2, big)
      const [c1, c2] = await Promise.all([w1.commit(), w2.commit()])
      assert.ok(c1.equals(blobCidOf(other)))
      assert.ok(c2.equals(bigCid))
    } finally {
      await store.close()
    }
  })

  it('refuses bytes that hash to another CID and leaves nothing behind', async () => {
    await using dir = await tempDir()
    const store = await BlobStore.open({ dataDir: dir.path, hashThreadMinBytes: 0 })
    try {
      const corrupt = Uint8Array.from(big)
      corrupt[3 * 1024 * 1024 + 17]! ^= 0x40
      const writer = await store.writer({ expectedBytes: corrupt.byteLength })
      writeInPieces(writer, corrupt)
      await assert.rejects(writer.commit(bigCid), { name: 'BlobHashMismatchError' })
      assert.equal(await store.has(bigCid), false)
      assert.deepEqual(await blobFiles(store), [])
      assert.deepEqual(await tempFiles(store), [])
    } finally {
      await store.close()
    }
  })

  it('hashes what reached the file: a write the disk lost fails that blob alone', async () => {
    // the first temp file written sits on a disk that reports its writes done but keeps none
    let lostPath: string | undefined
    const fs = tempFileFs({
      writev: (write, path) => {
        lostPath ??= path
        if (path !== lostPath) return write
        return async (buffers) => ({
          bytesWritten: (buffers as Uint8Array[]).reduce((n, b) => n + b.byteLength, 0),
          buffers,
        })
      },
    })
    await using dir = await tempDir()
    const store = await BlobStore.open({ dataDir: dir.path, fs, hashThreadMinBytes: 0 })
    try {
      const lost = await store.writer({ expectedBytes: big.byteLength })
      const other = bytesOf(4 * 1024 * 1024, 23)
      const kept = await store.writer({ expectedBytes: other.byteLength })
      const lostDone = store1(lost, big, bigCid) // writes at once: its file is the first written
      writeInPieces(kept, other)
      const [lostResult, keptResult] = await Promise.allSettled([lostDone, kept.commit(blobCidOf(other))])
      assert.equal(lostResult.status, 'rejected')
      assert.equal((lostResult as PromiseRejectedResult).reason.name, 'HashThreadError')
      assert.match((lostResult as PromiseRejectedResult).reason.message, /temp file ends at 0 bytes/)
      assert.equal(await store.has(bigCid), false)
      assert.equal(keptResult.status, 'fulfilled')
      assertSameBytes(await store.get(blobCidOf(other), { verify: true }), other)
      assert.deepEqual(await tempFiles(store), [])
    } finally {
      await store.close()
    }
  })

  it('a blob whose hash thread dies is given up, and the next blob starts a new thread', async () => {
    await using dir = await tempDir()
    const store = await BlobStore.open({ dataDir: dir.path, hashThreadMinBytes: 0 })
    try {
      const writer = await store.writer({ expectedBytes: big.byteLength })
      writer.write(big.subarray(0, 3_000_000))
      await store.close() // ends the thread under the open writer
      await assert.rejects(store1(writer, big.subarray(3_000_000), bigCid), { name: 'HashThreadError' })
      assert.equal(await store.has(bigCid), false)
      assert.deepEqual(await tempFiles(store), [])

      const again = await store.writer({ expectedBytes: big.byteLength })
      writeInPieces(again, big)
      assert.ok((await again.commit(bigCid)).equals(bigCid))
      assertSameBytes(await store.get(bigCid, { verify: true }), big)
    } finally {
      await store.close()
    }
  })

  it('a full disk gives BlobStoreFullError and leaves nothing behind', async () => {
    await using dir = await tempDir()
    const store = await BlobStore.open({ dataDir: dir.path, fs: fullDisk(), hashThreadMinBytes: 0 })
    try {
      const writer = await store.writer({ expectedBytes: big.byteLength })
      await assert.rejects(store1(writer, big, bigCid), { name: 'BlobStoreFullError' })
      assert.equal(await store.has(bigCid), false)
      assert.deepEqual(await tempFiles(store), [])
    } finally {
      await store.close()
    }
  })
})

describe('parseBlobCid', () => {
  it('accepts a raw sha256 CIDv1 as string, bytes or CID', () => {
    const cid = blobCidOf(bytesOf(3))
    assert.ok(parseBlobCid(cid.toString()).equals(cid))
    assert.ok(parseBlobCid(cid.bytes).equals(cid))
    assert.ok(parseBlobCid(cid).equals(cid))
  })

  it('rejects anything else with InvalidBlobCidError', () => {
    const digest = blobCidOf(bytesOf(3)).multihash
    const hostile: Array<string | Uint8Array | CID> = [
      '',
      'not a cid',
      'x'.repeat(10_000),
      new Uint8Array(1_000),
      new Uint8Array([1, 2, 3]),
      CID.createV0(digest as Parameters<typeof CID.createV0>[0]).toString(), // v0 (dag-pb)
      CID.createV1(0x70, digest).toString(), // dag-pb codec
      CID.createV1(0x55, Digest.create(0x13, new Uint8Array(64))).toString(), // sha512
      CID.createV1(0x55, Digest.create(0x12, new Uint8Array(20))), // short digest
    ]
    for (const input of hostile) assert.throws(() => parseBlobCid(input), { name: 'InvalidBlobCidError' })
  })
})
