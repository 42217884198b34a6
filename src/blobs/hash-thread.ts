/**
 * The hash thread's code (a worker_threads entry, started by {@link HashThread} in hasher.ts):
 * SHA-256 per job, read back from the blob's temp file up to the length its writer reports as
 * written. A job whose file cannot be read is answered with an error and dropped; the others go on.
 */
import { createHash, type Hash } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'
import { HASH_READ_BYTES, type HashReply, type HashRequest } from './hasher.js'

const port = parentPort
if (port == null) throw new Error('hash-thread.js runs as a worker thread (see hasher.ts)')

interface Job {
  fd: number
  hash: Hash
  /** Bytes of the file hashed so far. */
  at: number
}
const jobs = new Map<number, Job>()
const buffer = Buffer.allocUnsafe(HASH_READ_BYTES)

function forget(id: number): void {
  const job = jobs.get(id)
  if (job == null) return
  jobs.delete(id)
  try {
    closeSync(job.fd)
  } catch {}
}

function handle(m: HashRequest): void {
  if ('path' in m) {
    jobs.set(m.job, { fd: openSync(m.path, 'r'), hash: createHash('sha256'), at: 0 })
    return
  }
  const job = jobs.get(m.job)
  if (job == null) return
  if ('drop' in m) {
    forget(m.job)
  } else if ('upTo' in m) {
    while (job.at < m.upTo) {
      const n = readSync(job.fd, buffer, 0, Math.min(buffer.byteLength, m.upTo - job.at), job.at)
      if (n <= 0) throw new Error(`the temp file ends at ${job.at} bytes, ${m.upTo} were written`)
      job.hash.update(buffer.subarray(0, n))
      job.at += n
    }
  } else {
    forget(m.job)
    port!.postMessage({ job: m.job, digest: job.hash.digest() } satisfies HashReply)
  }
}

port.on('message', (m: HashRequest) => {
  try {
    handle(m)
  } catch (err) {
    forget(m.job)
    port.postMessage({ job: m.job, error: (err as Error).message } satisfies HashReply)
  }
})
