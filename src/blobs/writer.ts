import type { FileHandle } from 'node:fs/promises'
import { type BlobCid, blobCidFromDigest } from './cid.js'
import { BlobHashMismatchError, BlobStoreFullError, BlobTooLargeError } from './errors.js'
import { type BlobHasher, InlineHasher } from './hasher.js'

/**
 * Bytes queued for the disk before `write()` makes the producer wait. At 8 MiB a 64 MiB fetch on
 * a busy 2-core machine pauses its stream 4-7 times (10-40 ms in all: libuv's pool waits its turn
 * for a core); 16 MiB ended the pauses but did not make fetches measurably faster, so the memory
 * stays at 8 (docs/PERFORMANCE.md, sixth round).
 */
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
 * A blob being written: bytes go to a temp file as they arrive and are hashed (inline, or read
 * back from the file by the store's hash thread for large blobs), and every
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

export class FileBlobWriter implements BlobWriter {
  private queue: Uint8Array[] = []
  /** Accepted bytes not yet written to the file. */
  private pendingBytes = 0
  private position = 0
  private accepted = 0
  private inflight: Promise<void> | undefined
  private flushing: Promise<void> | undefined
  private unflushed = 0
  private failure: Error | undefined
  private done = false
  private waiters: Array<() => void> = []
  private readonly hasher: BlobHasher

  constructor(
    private readonly file: FileHandle,
    private readonly tempPath: string,
    private readonly target: WriterTarget,
    private readonly maxBytes: number,
    /**
     * How to hash: a function given the writer's failure callback (the store's hash thread, which
     * reads the bytes back from the temp file), or a hasher. @default inline, as bytes are accepted
     */
    hashing: BlobHasher | ((onFailure: (err: Error) => void) => BlobHasher) = new InlineHasher(),
  ) {
    this.hasher =
      typeof hashing === 'function'
        ? hashing((err) => {
            this.failure ??= err
            this.wake()
          })
        : hashing
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
    this.hasher.update(bytes)
    this.queue.push(bytes)
    this.pump()
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
      await this.flush()
      await this.flushing
      if (this.failure != null) throw this.failure
      // a read-back hash reads the tail while the disk takes it
      const digest = this.hasher.digest()
      const synced = this.file.sync()
      synced.catch(() => {})
      const cid = blobCidFromDigest(await digest)
      if (expected != null && !cid.equals(expected)) {
        throw new BlobHashMismatchError(`bytes hash to ${cid}, expected ${expected}`)
      }
      await synced
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
    for (const b of batch) bytes += b.byteLength
    this.inflight = this.writeAll(batch, bytes).then(
      () => {
        this.inflight = undefined
        this.unflushed += bytes
        this.pendingBytes -= bytes
        this.hasher.written(this.position)
        this.wake()
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
