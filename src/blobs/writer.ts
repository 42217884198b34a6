import type { FileHandle } from 'node:fs/promises'
import { type BlobCid, blobCidFromDigest } from './cid.js'
import { BlobHashMismatchError, BlobStoreFullError, BlobTooLargeError } from './errors.js'
import { HASH_BATCH_BYTES, HashThread, InlineHasher, type StreamHasher } from './hasher.js'

/** Bytes queued for the disk before `write()` makes the producer wait. */
export const WRITER_HIGH_WATER_BYTES = 8 * 1024 * 1024
/**
 * Written bytes after which the writer asks the disk to flush them (`fdatasync`) in the
 * background while more arrive, so `commit`'s fsync only waits for the tail instead of the
 * whole blob: the flush overlaps the transfer instead of following it.
 */
export const WRITER_FLUSH_EVERY_BYTES = 8 * 1024 * 1024
/** Buffers per `writev` call (Linux IOV_MAX is 1024). */
const MAX_IOVECS = 1024

/**
 * A blob being written: bytes are hashed (on the store's hash thread for large blobs) and go
 * to a temp file as they arrive, and every
 * WRITER_FLUSH_EVERY_BYTES are flushed to disk in the background; `commit` checks the hash,
 * fsyncs the rest and renames the file into place, so a reader never sees a partial blob.
 * Until `commit` resolves, nothing is visible under a CID.
 */
export interface BlobWriter {
  /** Bytes accepted so far. */
  readonly bytesWritten: number
  /** True while enough bytes are queued that the producer should `await drain()`. */
  readonly needsDrain: boolean
  /**
   * Queues bytes (not copied: do not mutate them afterwards). Throws
   * {@link BlobTooLargeError} past the limit, or the disk error of an earlier write.
   */
  write(bytes: Uint8Array): void
  /** Resolves when the queue is below the high-water mark (rejects on a disk error). */
  drain(): Promise<void>
  /**
   * Finishes the blob. With `expected`, bytes that hash to another CID throw
   * {@link BlobHashMismatchError} and are discarded. Returns the CID.
   */
  commit(expected?: BlobCid): Promise<BlobCid>
  /** Discards the blob and its temp file. Safe to call more than once, or after commit. */
  abort(): Promise<void>
}

/** What the writer needs from the store to place a finished blob. */
export interface WriterTarget {
  /** Moves the fsynced temp file to the blob's final path (no-op if it already exists). */
  place(tempPath: string, cid: BlobCid): Promise<void>
  unlink(path: string): Promise<void>
}

export function mapFsError(err: unknown): Error {
  const code = (err as { code?: unknown } | null)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') return new BlobStoreFullError()
  return err instanceof Error ? err : new Error(String(err))
}

/** Bytes on their way to the file and the hasher; gone when both are done with them. */
interface Piece {
  bytes: Uint8Array
  /** Users left: the file write and the hash. */
  refs: number
  /** The whole shared buffer, reused once both are done. */
  batch?: Uint8Array
}

export class FileBlobWriter implements BlobWriter {
  private readonly hasher: StreamHasher
  private readonly thread: HashThread | undefined
  private queue: Piece[] = []
  /** Accepted bytes not yet both written and hashed. */
  private pendingBytes = 0
  private position = 0
  private accepted = 0
  private inflight: Promise<void> | undefined
  private flushing: Promise<void> | undefined
  private unflushed = 0
  private failure: Error | undefined
  private done = false
  private waiters: Array<() => void> = []
  private batch: Uint8Array | undefined
  private batchFill = 0

  constructor(
    private readonly file: FileHandle,
    private readonly tempPath: string,
    private readonly target: WriterTarget,
    private readonly maxBytes: number,
    /**
     * How to hash. Undefined: inline, the caller's bytes hashed at once and written as they are
     * (no copy). A HashThread: bytes are copied into its shared batch buffers, and each full one
     * is written to the file and hashed on the thread at the same time. A StreamHasher: that one.
     */
    hashing?: HashThread | StreamHasher,
  ) {
    if (hashing instanceof HashThread) {
      this.thread = hashing
      this.hasher = hashing.hasher((err) => {
        this.failure ??= err
        this.wake()
      })
    } else {
      this.hasher = hashing ?? new InlineHasher()
    }
  }

  get bytesWritten(): number {
    return this.accepted
  }

  get needsDrain(): boolean {
    return this.pendingBytes >= WRITER_HIGH_WATER_BYTES
  }

  write(bytes: Uint8Array): void {
    if (this.failure != null) throw this.failure
    if (this.done) throw new Error('blob writer is finished')
    if (bytes.byteLength === 0) return
    if (this.accepted + bytes.byteLength > this.maxBytes) {
      throw new BlobTooLargeError(`blob exceeds the limit of ${this.maxBytes} bytes`)
    }
    this.accepted += bytes.byteLength
    this.pendingBytes += bytes.byteLength
    if (this.thread != null) this.copy(bytes)
    else this.enqueue({ bytes, refs: 2 })
  }

  async drain(): Promise<void> {
    while (this.failure == null && this.needsDrain) {
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
    if (this.failure != null) throw this.failure
  }

  async commit(expected?: BlobCid): Promise<BlobCid> {
    if (this.done) throw new Error('blob writer is finished')
    try {
      if (this.failure != null) throw this.failure
      this.seal()
      // the thread hashes the tail while the file catches up
      const digest = this.hasher.digest()
      digest.catch(() => {})
      await this.flush()
      await this.flushing
      if (this.failure != null) throw this.failure
      const cid = blobCidFromDigest(await digest)
      if (expected != null && !cid.equals(expected)) {
        throw new BlobHashMismatchError(`bytes hash to ${cid}, expected ${expected}`)
      }
      await this.file.sync()
      this.done = true
      this.hasher.close()
      await this.file.close()
      await this.target.place(this.tempPath, cid)
      return cid
    } catch (err) {
      await this.abort()
      throw mapFsError(err)
    }
  }

  async abort(): Promise<void> {
    const first = !this.done
    this.done = true
    this.failure ??= new Error('blob writer aborted')
    this.hasher.close()
    this.wake()
    if (this.inflight != null) await this.inflight.catch(() => {})
    if (this.flushing != null) await this.flushing.catch(() => {})
    if (first) await this.file.close().catch(() => {})
    await this.target.unlink(this.tempPath).catch(() => {})
  }

  /** Copies `bytes` into shared batches; each full one goes to the file and the thread. */
  private copy(bytes: Uint8Array): void {
    const thread = this.thread!
    let at = 0
    while (at < bytes.byteLength) {
      if (this.batch == null) {
        this.batch = thread.batch()
        this.batchFill = 0
      }
      const n = Math.min(HASH_BATCH_BYTES - this.batchFill, bytes.byteLength - at)
      this.batch.set(at === 0 && n === bytes.byteLength ? bytes : bytes.subarray(at, at + n), this.batchFill)
      this.batchFill += n
      at += n
      if (this.batchFill === HASH_BATCH_BYTES) this.seal()
    }
  }

  /** Sends the partly filled batch on its way. */
  private seal(): void {
    const batch = this.batch
    if (batch == null) return
    this.batch = undefined
    if (this.batchFill > 0) this.enqueue({ bytes: batch.subarray(0, this.batchFill), refs: 2, batch })
    else this.thread?.recycle(batch)
  }

  private enqueue(piece: Piece): void {
    this.queue.push(piece)
    this.hasher.update(piece.bytes, () => this.release(piece))
    this.pump()
  }

  private release(piece: Piece): void {
    if (--piece.refs > 0) return
    this.pendingBytes -= piece.bytes.byteLength
    if (piece.batch != null) this.thread?.recycle(piece.batch)
    this.wake()
  }

  private async flush(): Promise<void> {
    while (this.inflight != null || this.queue.length > 0) {
      if (this.failure != null) throw this.failure
      this.pump()
      await this.inflight
    }
    if (this.failure != null) throw this.failure
  }

  private pump(): void {
    if (this.inflight != null || this.queue.length === 0 || this.failure != null) return
    const batch = this.queue.splice(0, MAX_IOVECS)
    let bytes = 0
    for (const p of batch) bytes += p.bytes.byteLength
    this.inflight = this.writeAll(
      batch.map((p) => p.bytes),
      bytes,
    ).then(
      () => {
        this.inflight = undefined
        this.unflushed += bytes
        for (const p of batch) this.release(p)
        this.flushBehind()
        this.pump()
      },
      (err: unknown) => {
        this.inflight = undefined
        this.failure = mapFsError(err)
        this.wake()
      },
    )
  }

  /** Starts a background fdatasync once enough bytes are written (one at a time). */
  private flushBehind(): void {
    if (this.flushing != null || this.unflushed < WRITER_FLUSH_EVERY_BYTES || this.done) return
    this.unflushed = 0
    this.flushing = this.file.datasync().then(
      () => {
        this.flushing = undefined
      },
      (err: unknown) => {
        this.flushing = undefined
        this.failure ??= mapFsError(err)
        this.wake()
      },
    )
  }

  private async writeAll(bufs: Uint8Array[], bytes: number): Promise<void> {
    let remaining = bytes
    // Regular files rarely write short, but a short write must not lose bytes.
    while (remaining > 0) {
      const { bytesWritten } = await this.file.writev(bufs, this.position)
      if (bytesWritten <= 0) throw new Error('blob write made no progress')
      this.position += bytesWritten
      remaining -= bytesWritten
      if (remaining > 0) bufs = skipBytes(bufs, bytesWritten)
    }
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }
}

function skipBytes(bufs: Uint8Array[], count: number): Uint8Array[] {
  const rest: Uint8Array[] = []
  let skip = count
  for (const b of bufs) {
    if (skip >= b.byteLength) skip -= b.byteLength
    else {
      rest.push(skip > 0 ? b.subarray(skip) : b)
      skip = 0
    }
  }
  return rest
}
