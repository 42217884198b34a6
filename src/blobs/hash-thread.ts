/**
 * The hash thread's code (a worker_threads entry, started by {@link HashThread} in hasher.ts):
 * SHA-256 per job, bytes in order, one reply per update so the sender can reuse its buffer.
 */
import { createHash, type Hash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { HashReply, HashRequest } from './hasher.js'

const port = parentPort
if (port == null) throw new Error('hash-thread.js runs as a worker thread (see hasher.ts)')
const jobs = new Map<number, Hash>()

port.on('message', (m: HashRequest) => {
  if ('drop' in m) {
    jobs.delete(m.job)
    return
  }
  let hash = jobs.get(m.job)
  if (hash == null) {
    hash = createHash('sha256')
    jobs.set(m.job, hash)
  }
  if ('bytes' in m) {
    hash.update(m.bytes)
    port.postMessage({ job: m.job } satisfies HashReply)
  } else {
    jobs.delete(m.job)
    port.postMessage({ job: m.job, digest: hash.digest() } satisfies HashReply)
  }
})
