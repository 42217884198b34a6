/**
 * SHA-256 of a blob being written. Small blobs are hashed inline as their bytes arrive; large
 * ones are read back from the temp file by a worker thread ({@link HashThread}) as each write
 * lands, so a fetch's main thread only decrypts and hands bytes to the disk while the hash
 * (~37 ms of CPU per 64 MiB here) runs beside it, and no byte is copied on the main thread.
 */
import { createHash } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { HashThreadError } from './errors.js'

/** Blobs announced at this size or more are hashed on the store's worker thread. */
export const HASH_THREAD_MIN_BYTES = 4 * 1024 * 1024
/**
 * Cores a machine needs before a store hashes on a thread by default. Reading the bytes back
 * from the page cache costs the thread ~13 ms per 64 MiB more than hashing them inline, and the
 * main thread saves the whole hash (~40 ms per 64 MiB). On the 2-core machine it was built on,
 * where every core is busy during a fetch, that only moved CPU: as fast with the holder in
 * another process, slower with both ends in one (docs/PERFORMANCE.md, sixth round). With cores
 * to spare the main thread bounds a fetch, and the thread frees it.
 */
export const HASH_THREAD_MIN_CORES = 4
/** The hash thread ends after this long without a blob to hash (started again on demand). */
export const HASH_THREAD_IDLE_MS = 30_000
/** The thread's read buffer: one `read` of the temp file per this many bytes. */
export const HASH_READ_BYTES = 2 * 1024 * 1024

/** Hashes one blob's bytes, in order, either as they are accepted or as they reach the file. */
export interface BlobHasher {
  /** Bytes accepted by the writer, after everything given before. */
  update(bytes: Uint8Array): void
  /** The temp file now holds the blob's first `bytes` bytes (called as each write lands). */
  written(bytes: number): void
  /** The digest of the whole blob: call once, after the last `update` and `written`. */
  digest(): Promise<Uint8Array>
  /** Forgets the blob (after `digest`, or to give up on it). Safe to call more than once. */
  close(): void
}

/** Called when hashing cannot go on (the thread died, or could not read the file). */
export type HashFailure = (err: Error) => void

export class InlineHasher implements BlobHasher {
  private readonly hash = createHash('sha256')
  update(bytes: Uint8Array): void {
    this.hash.update(bytes)
  }
  written(): void {}
  async digest(): Promise<Uint8Array> {
    return this.hash.digest()
  }
  close(): void {}
}

/**
 * For bytes the caller has just hashed itself (`BlobStore.put`): hashing them again as they are
 * written would only repeat the same computation over the same memory.
 */
export class KnownDigest implements BlobHasher {
  constructor(private readonly sha256: Uint8Array) {}
  update(): void {}
  written(): void {}
  async digest(): Promise<Uint8Array> {
    return this.sha256
  }
  close(): void {}
}

/** What the store's thread is asked (see hash-thread.ts). */
export type HashRequest =
  /** Opens a job: the blob's temp file, to read back from its start. */
  | { job: number; path: string }
  /** The file now holds the blob's first `upTo` bytes: hash them. */
  | { job: number; upTo: number }
  | { job: number; end: true }
  | { job: number; drop: true }
/** What it answers: the digest for `end`, or why the job cannot go on (it is then dropped). */
export type HashReply = { job: number; digest: Uint8Array } | { job: number; error: string }

interface Job {
  worker: Worker
  digest?: { resolve(d: Uint8Array): void; reject(err: Error): void }
  onFailure: HashFailure
}

/**
 * One worker thread that hashes any number of blobs at once, each a job, reading each blob
 * back from its temp file as the writer reports its writes. Started when the first job opens,
 * holds the process open only while a job is open, and ends after {@link HASH_THREAD_IDLE_MS}
 * without one. If the thread dies every open job fails; the next job starts a new one.
 */
export class HashThread {
  private worker: Worker | undefined
  private readonly jobs = new Map<number, Job>()
  private nextJob = 1
  private idleTimer: NodeJS.Timeout | undefined

  constructor(private readonly idleMs = HASH_THREAD_IDLE_MS) {}

  /**
   * Opens a job for the blob being written to `path` (by `node:fs`: the thread opens the path
   * itself). `onFailure` is called if the thread dies, or cannot read the file, before the job
   * is closed.
   */
  hasher(path: string, onFailure: HashFailure): BlobHasher {
    const worker = this.start()
    const id = this.nextJob++
    const job: Job = { worker, onFailure }
    this.jobs.set(id, job)
    worker.postMessage({ job: id, path } satisfies HashRequest)
    let ended = false
    const post = (m: HashRequest): void => {
      if (this.jobs.get(id) === job) worker.postMessage(m)
    }
    return {
      update: () => {},
      written: (upTo) => post({ job: id, upTo }),
      digest: () =>
        new Promise<Uint8Array>((resolve, reject) => {
          if (this.jobs.get(id) !== job || ended) {
            reject(new HashThreadError('the hash thread job is closed'))
            return
          }
          ended = true
          job.digest = { resolve, reject }
          worker.postMessage({ job: id, end: true } satisfies HashRequest)
        }),
      close: () => {
        if (this.jobs.get(id) !== job) return
        this.jobs.delete(id)
        worker.postMessage({ job: id, drop: true } satisfies HashRequest)
        this.idleIfDone()
      },
    }
  }

  /** Ends the thread now; open jobs fail. */
  async stop(): Promise<void> {
    const worker = this.worker
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
    if ('digest' in reply) {
      job.digest?.resolve(reply.digest)
      job.digest = undefined
      return
    }
    // the thread has dropped the job: it fails alone, the thread goes on with the others
    this.jobs.delete(reply.job)
    const err = new HashThreadError(`the hash thread could not hash the blob: ${reply.error}`)
    job.digest?.reject(err)
    job.onFailure(err)
    this.idleIfDone()
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
      void worker.terminate()
    }, this.idleMs)
    this.idleTimer.unref()
  }
}
