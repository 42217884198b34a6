import { randomBytes } from 'node:crypto'
import * as fsp from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import type { AbortOptions, Logger } from '@libp2p/interface'
import { type BlobCid, blobCidOf } from './cid.js'
import { BlobHashMismatchError, BlobNotFoundError, BlobTooLargeError } from './errors.js'
import {
  type BlobHasher,
  HASH_THREAD_MIN_BYTES,
  HASH_THREAD_MIN_CORES,
  HashThread,
  KnownDigest,
} from './hasher.js'
import { type BlobWriter, FileBlobWriter, mapFsError } from './writer.js'

/** Default largest blob the store accepts: 64 MiB. */
export const MAX_BLOB_BYTES = 64 * 1024 * 1024
/** Default chunk size of {@link BlobStore.read}: 512 KiB. */
export const READ_CHUNK_BYTES = 512 * 1024
const TEMP_DIR = '.tmp'
/** Stored blobs whose size is remembered, so `has` and `size` need no `stat` (a task asks several). */
const MAX_KNOWN_BLOBS = 4096

/** The file operations the store uses; tests substitute one to inject faults (e.g. ENOSPC). */
export type BlobStoreFs = Pick<
  typeof fsp,
  'open' | 'rename' | 'unlink' | 'mkdir' | 'readdir' | 'stat' | 'readFile' | 'rm'
>

export interface BlobStoreInit {
  /** The node's data directory; blobs live in `<dataDir>/blobs/`. */
  dataDir: string
  /** Largest blob `put` and writers accept. @default MAX_BLOB_BYTES (64 MiB) */
  maxBlobBytes?: number
  /** Hash every `get` against its CID. @default false */
  verifyOnRead?: boolean
  /**
   * Writers expecting at least this many bytes have them hashed by a worker thread (started on
   * demand, one per store) that reads them back from the temp file, instead of on the main
   * thread. @default HASH_THREAD_MIN_BYTES (4 MiB) on machines with HASH_THREAD_MIN_CORES (4)
   * or more cores, else never
   */
  hashThreadMinBytes?: number
  /** File operations. @default node:fs/promises */
  fs?: BlobStoreFs
  log?: Logger
}

export interface GetOptions extends AbortOptions {
  /** Re-hash the bytes and throw {@link BlobHashMismatchError} if the file was damaged. */
  verify?: boolean
}

export interface ReadOptions extends AbortOptions {
  /** First byte. @default 0 */
  offset?: number
  /** Bytes to read from `offset`. @default to the end */
  length?: number
  /** Size of each yielded chunk. @default READ_CHUNK_BYTES */
  chunkBytes?: number
}

/** An open blob file for positional reads (used to serve blobs without extra copies). */
export interface BlobFile {
  readonly size: number
  /** Reads up to `length` bytes at `position` into `target` at `targetOffset`; returns bytes read. */
  read(target: Uint8Array, targetOffset: number, length: number, position: number): Promise<number>
  close(): Promise<void>
}

export interface WriterOptions {
  /** Refuse (throw {@link BlobTooLargeError}) past this many bytes. @default maxBlobBytes */
  maxBytes?: number
  /**
   * The size the caller expects (a holder's announced size): from `hashThreadMinBytes` up, the
   * bytes are hashed on the store's hash thread. @default 0 (hashed inline)
   */
  expectedBytes?: number
}

/**
 * A content-addressed blob store on disk. Blobs live at `<dataDir>/blobs/<shard>/<cid>`;
 * writes go to `<dataDir>/blobs/.tmp/` first and are renamed into place after fsync, so a
 * crash never leaves a torn blob under a CID, and `open()` sweeps leftover temp files.
 * Open one store per data directory per process: `open()` clears the temp directory.
 */
export class BlobStore {
  readonly dir: string
  readonly maxBlobBytes: number
  private readonly tempDir: string
  private readonly fs: BlobStoreFs
  private readonly verifyOnRead: boolean
  private readonly hashThreadMinBytes: number
  private readonly hashThread = new HashThread()
  private readonly log?: Logger
  private readonly shards = new Set<string>()
  /**
   * CID → size of blobs seen stored. Blobs are immutable and leave only through `delete`, which
   * forgets them; a file removed behind the store's back is noticed by the next read.
   */
  private readonly known = new Map<string, number>()

  private constructor(init: BlobStoreInit) {
    this.dir = join(init.dataDir, 'blobs')
    this.tempDir = join(this.dir, TEMP_DIR)
    this.maxBlobBytes = init.maxBlobBytes ?? MAX_BLOB_BYTES
    this.verifyOnRead = init.verifyOnRead ?? false
    this.hashThreadMinBytes =
      init.hashThreadMinBytes ??
      (availableParallelism() >= HASH_THREAD_MIN_CORES ? HASH_THREAD_MIN_BYTES : Number.POSITIVE_INFINITY)
    this.fs = init.fs ?? fsp
    this.log = init.log
  }

  /** Opens (creating if needed) the store and removes temp files a crash left behind. */
  static async open(init: BlobStoreInit): Promise<BlobStore> {
    const store = new BlobStore(init)
    await store.fs.rm(store.tempDir, { recursive: true, force: true })
    await store.fs.mkdir(store.tempDir, { recursive: true })
    return store
  }

  /** Stores `bytes` and returns their CID. Idempotent: an existing blob is not rewritten. */
  async put(bytes: Uint8Array, options: AbortOptions = {}): Promise<BlobCid> {
    if (bytes.byteLength > this.maxBlobBytes) {
      throw new BlobTooLargeError(`blob of ${bytes.byteLength} bytes exceeds ${this.maxBlobBytes}`)
    }
    const cid = blobCidOf(bytes)
    if (await this.has(cid)) return cid
    options.signal?.throwIfAborted()
    const writer = await this.newWriter(this.maxBlobBytes, new KnownDigest(cid.multihash.digest))
    try {
      writer.write(bytes)
    } catch (err) {
      await writer.abort()
      throw err
    }
    return writer.commit(cid)
  }

  /** Starts a streaming write; see {@link BlobWriter}. */
  async writer(options: WriterOptions = {}): Promise<BlobWriter> {
    const maxBytes = Math.min(options.maxBytes ?? this.maxBlobBytes, this.maxBlobBytes)
    const threaded = (options.expectedBytes ?? 0) >= this.hashThreadMinBytes
    return this.newWriter(maxBytes, threaded ? 'thread' : undefined)
  }

  private async newWriter(maxBytes: number, hashing?: 'thread' | BlobHasher): Promise<BlobWriter> {
    const tempPath = join(this.tempDir, `${randomBytes(12).toString('hex')}.part`)
    let file: fsp.FileHandle
    try {
      file = await this.fs.open(tempPath, 'wx', 0o644)
    } catch (err) {
      throw mapFsError(err)
    }
    return new FileBlobWriter(
      file,
      tempPath,
      {
        place: async (temp, cid) => this.place(temp, cid),
        unlink: async (path) => this.fs.unlink(path),
      },
      maxBytes,
      hashing === 'thread' ? (onFailure) => this.hashThread.hasher(tempPath, onFailure) : hashing,
    )
  }

  /** Ends the store's hash thread (open writers on it fail); a later large write starts it again. */
  async close(): Promise<void> {
    await this.hashThread.stop()
  }

  /** The whole blob. Throws {@link BlobNotFoundError} if absent. */
  async get(cid: BlobCid, options: GetOptions = {}): Promise<Uint8Array> {
    let bytes: Uint8Array
    try {
      bytes = await this.fs.readFile(this.path(cid), { signal: options.signal })
    } catch (err) {
      this.known.delete(cid.toString())
      throw notFound(err, cid)
    }
    if ((options.verify ?? this.verifyOnRead) && !blobCidOf(bytes).equals(cid)) {
      this.log?.error('stored blob %s is damaged', cid)
      throw new BlobHashMismatchError(`stored blob ${cid} is damaged on disk`)
    }
    return bytes
  }

  async has(cid: BlobCid): Promise<boolean> {
    if (this.known.has(cid.toString())) return true
    try {
      const st = await this.fs.stat(this.path(cid))
      if (st.isFile()) this.remember(cid, st.size)
      return st.isFile()
    } catch {
      return false
    }
  }

  /** Size in bytes. Throws {@link BlobNotFoundError} if absent. */
  async size(cid: BlobCid): Promise<number> {
    const known = this.known.get(cid.toString())
    if (known !== undefined) return known
    try {
      const { size } = await this.fs.stat(this.path(cid))
      this.remember(cid, size)
      return size
    } catch (err) {
      throw notFound(err, cid)
    }
  }

  private remember(cid: BlobCid, size: number): void {
    const key = cid.toString()
    this.known.delete(key)
    this.known.set(key, size)
    if (this.known.size > MAX_KNOWN_BLOBS) {
      const oldest = this.known.keys().next().value
      if (oldest !== undefined) this.known.delete(oldest)
    }
  }

  /** Opens a blob for positional reads. Throws {@link BlobNotFoundError} if absent. */
  async openFile(cid: BlobCid): Promise<BlobFile> {
    let handle: fsp.FileHandle
    try {
      handle = await this.fs.open(this.path(cid), 'r')
    } catch (err) {
      throw notFound(err, cid)
    }
    try {
      const { size } = await handle.stat()
      return {
        size,
        read: async (target, targetOffset, length, position) =>
          (await handle.read(target, targetOffset, length, position)).bytesRead,
        close: async () => handle.close(),
      }
    } catch (err) {
      await handle.close().catch(() => {})
      throw err
    }
  }

  /** Streams `[offset, offset + length)` of a blob in chunks (each a fresh buffer). */
  async *read(cid: BlobCid, options: ReadOptions = {}): AsyncGenerator<Uint8Array> {
    const file = await this.openFile(cid)
    try {
      const offset = options.offset ?? 0
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > file.size) {
        throw new RangeError(`offset ${offset} outside blob of ${file.size} bytes`)
      }
      const end = Math.min(file.size, offset + (options.length ?? file.size))
      const chunkBytes = options.chunkBytes ?? READ_CHUNK_BYTES
      let position = offset
      while (position < end) {
        options.signal?.throwIfAborted()
        const want = Math.min(chunkBytes, end - position)
        const buf = new Uint8Array(want)
        const n = await file.read(buf, 0, want, position)
        if (n === 0) throw new Error(`blob ${cid} shrank while being read`)
        position += n
        yield n === want ? buf : buf.subarray(0, n)
      }
    } finally {
      await file.close()
    }
  }

  /** Removes a blob; returns whether it was there. */
  async delete(cid: BlobCid): Promise<boolean> {
    this.known.delete(cid.toString())
    try {
      await this.fs.unlink(this.path(cid))
      return true
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return false
      throw err
    } finally {
      // a `has` that stat'ed the file while it was being unlinked may have remembered it
      this.known.delete(cid.toString())
    }
  }

  /** Every stored blob's CID string (for maintenance; not for hot paths). */
  async *list(): AsyncGenerator<string> {
    for (const shard of await this.fs.readdir(this.dir)) {
      if (shard === TEMP_DIR) continue
      for (const name of await this.fs.readdir(join(this.dir, shard))) yield name
    }
  }

  private shardOf(cid: BlobCid): string {
    const s = cid.toString()
    return s.slice(-3, -1)
  }

  private path(cid: BlobCid): string {
    return join(this.dir, this.shardOf(cid), cid.toString())
  }

  private async place(tempPath: string, cid: BlobCid): Promise<void> {
    const shard = this.shardOf(cid)
    const shardDir = join(this.dir, shard)
    if (!this.shards.has(shard)) {
      await this.fs.mkdir(shardDir, { recursive: true })
      this.shards.add(shard)
    }
    await this.fs.rename(tempPath, this.path(cid))
    await syncDir(this.fs, shardDir)
    this.log?.trace('stored blob %s', cid)
  }
}

/** Makes a rename durable; best effort, since some platforms cannot fsync a directory. */
async function syncDir(fs: BlobStoreFs, dir: string): Promise<void> {
  try {
    const handle = await fs.open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {}
}

function notFound(err: unknown, cid: BlobCid): Error {
  if ((err as { code?: unknown } | null)?.code === 'ENOENT')
    return new BlobNotFoundError(`blob ${cid} not found`)
  return err instanceof Error ? err : new Error(String(err))
}
