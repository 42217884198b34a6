/**
 * SHA-256 of a blob being written. Small blobs are hashed inline; large ones on a worker
 * thread ({@link HashThread}), so a fetch's main thread only decrypts and copies while the
 * hash (~45 ms of CPU per 64 MiB here, a sixth of the transfer) runs beside it.
 */
import { createHash } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { HashThreadError } from './errors.js'

/** Blobs announced at this size or more are hashed on the store's worker thread. */
export const HASH_THREAD_MIN_BYTES = 4 * 1024 * 1024
/**
 * Cores a machine needs before a store hashes on a thread by default. The thread takes the hash
 * (~45 ms of CPU per 64 MiB) off the main thread but adds a copy and a message per 2 MiB; on the
 * 2-core machine it was built on, with both ends in one process under load, a fetch with it ran
 * at 0.84-0.85x the speed of the inline hash and used 6-9 % more CPU (docs/PERFORMANCE.md).
 */
export const HASH_THREAD_MIN_CORES = 4
/** The hash thread ends after this long without a blob to hash (started again on demand). */
export const HASH_THREAD_IDLE_MS = 30_000
/**
 * Size of the shared buffers that carry a blob's bytes to the hash thread and the file: each is
 * one message to the thread and one write on the libuv pool, so fewer hand-offs per blob (see
 * docs/PERFORMANCE.md: 4 MiB gained nothing over 2).
 */
export const HASH_BATCH_BYTES = 2 * 1024 * 1024
/**
 * Free batch buffers kept for the next writers (a fresh SharedArrayBuffer costs page faults
 * and GC pressure: allocating them per blob took a third of the thread's gain away).
 */
const MAX_FREE_BATCHES = 8

/** Hashes one blob's bytes in the order given. */
export interface StreamHasher {
  /**
   * Hashes `bytes` after everything given before and calls `done` once they are hashed (the
   * caller may then reuse them). Bytes for the thread must be views of a SharedArrayBuffer.
   */
  update(bytes: Uint8Array, done: () => void): void
  /** The digest of everything given; rejects if hashing failed. Call once. */
  digest(): Promise<Uint8Array>
  /** Forgets the blob (after `digest`, or to give up on it). Safe to call more than once. */
  close(): void
}

/** Called when hashing cannot go on (the thread died): the blob must be given up. */
export type HashFailure = (err: Error) => void

export class InlineHasher implements StreamHasher {
  private readonly hash = createHash('sha256')
  update(bytes: Uint8Array, done: () => void): void {
    this.hash.update(bytes)
    done()
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest()
  }
  close(): void {}
}

/**
 * For bytes the caller has just hashed itself (`BlobStore.put`): hashing them again as they are
 * written would only repeat the same computation over the same memory.
 */
export class KnownDigest implements StreamHasher {
  constructor(private readonly sha256: Uint8Array) {}
  update(_bytes: Uint8Array, done: () => void): void {
    done()
  }
  async digest(): Promise<Uint8Array> {
    return this.sha256
  }
  close(): void {}
}

/** What the store's thread is asked (see hash-thread.ts). */
export type HashRequest =
  | { job: number; bytes: Uint8Array }
  | { job: number; end: true }
  | { job: number; drop: true }
/** What it answers: one reply per `bytes`, and the digest for `end`. */
export type HashReply = { job: number; digest?: Uint8Array }

interface Job {
  worker: Worker
  /** `done` callbacks of updates not yet answered, oldest first. */
  pending: Array<() => void>
  digest?: { resolve(d: Uint8Array): void; reject(err: Error): void }
  onFailure: HashFailure
}

/**
 * One worker thread that hashes any number of blobs at once, each a job. Started when the
 * first job opens, holds the process open only while a job is open, and ends after
 * {@link HASH_THREAD_IDLE_MS} without one. If the thread dies every open job fails; the next
 * job starts a new one.
 */
export class HashThread {
  private worker: Worker | undefined
  private readonly jobs = new Map<number, Job>()
  private nextJob = 1
  private idleTimer: NodeJS.Timeout | undefined
  private readonly freeBatches: Uint8Array[] = []

  constructor(private readonly idleMs = HASH_THREAD_IDLE_MS) {}

  /** Opens a job. `onFailure` is called if the thread dies before the job is closed. */
  hasher(onFailure: HashFailure): StreamHasher {
    const worker = this.start()
    const id = this.nextJob++
    const job: Job = { worker, pending: [], onFailure }
    this.jobs.set(id, job)
    let ended = false
    return {
      update: (bytes, done) => {
        if (!this.jobs.has(id)) throw new HashThreadError('the hash thread job is closed')
        job.pending.push(done)
        worker.postMessage({ job: id, bytes } satisfies HashRequest)
      },
      digest: () =>
        new Promise<Uint8Array>((resolve, reject) => {
          if (!this.jobs.has(id) || ended) {
            reject(new HashThreadError('the hash thread job is closed'))
            return
          }
          ended = true
          job.digest = { resolve, reject }
          worker.postMessage({ job: id, end: true } satisfies HashRequest)
        }),
      close: () => {
        if (!this.jobs.delete(id)) return
        worker.postMessage({ job: id, drop: true } satisfies HashRequest)
        this.idleIfDone()
      },
    }
  }

  /** A {@link HASH_BATCH_BYTES} buffer on a SharedArrayBuffer, for bytes to hash here. */
  batch(): Uint8Array {
    return this.freeBatches.pop() ?? new Uint8Array(new SharedArrayBuffer(HASH_BATCH_BYTES))
  }

  /** Gives back a buffer from {@link batch} that neither the thread nor its writer still uses. */
  recycle(batch: Uint8Array): void {
    if (this.freeBatches.length < MAX_FREE_BATCHES) this.freeBatches.push(batch)
  }

  /** Ends the thread now; open jobs fail. */
  async stop(): Promise<void> {
    const worker = this.worker
    this.freeBatches.length = 0
    if (worker == null) return
    this.fail(worker, new HashThreadError('the hash thread was stopped'))
    await worker.terminate()
  }

  private start(): Worker {
    clearTimeout(this.idleTimer)
    this.idleTimer = undefined
    if (this.worker == null) {
      const worker = new Worker(new URL('./hash-thread.js', import.meta.url))
      worker.on('message', (reply: HashReply) => this.onReply(reply))
      worker.on('error', (err) =>
        this.fail(worker, new HashThreadError(`the hash thread failed: ${err.message}`)),
      )
      worker.on('exit', (code) => this.fail(worker, new HashThreadError(`the hash thread exited (${code})`)))
      this.worker = worker
    }
    this.worker.ref()
    return this.worker
  }

  private onReply(reply: HashReply): void {
    const job = this.jobs.get(reply.job)
    if (job == null) return
    if (reply.digest != null) {
      job.digest?.resolve(reply.digest)
      job.digest = undefined
    } else {
      job.pending.shift()?.()
    }
  }

  /** Fails the jobs of `worker` (if it is still ours) and forgets it. */
  private fail(worker: Worker, err: Error): void {
    if (this.worker !== worker) return
    this.worker = undefined
    clearTimeout(this.idleTimer)
    this.idleTimer = undefined
    const jobs = [...this.jobs.values()].filter((j) => j.worker === worker)
    for (const [id, job] of this.jobs) if (job.worker === worker) this.jobs.delete(id)
    for (const job of jobs) {
      job.digest?.reject(err)
      job.onFailure(err)
    }
  }

  private idleIfDone(): void {
    const worker = this.worker
    if (worker == null || this.jobs.size > 0) return
    worker.unref()
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => {
      if (this.worker !== worker || this.jobs.size > 0) return
      this.worker = undefined
      this.freeBatches.length = 0
      void worker.terminate()
    }, this.idleMs)
    this.idleTimer.unref()
  }
}
