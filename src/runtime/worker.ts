/**
 * The pool worker: receives prepared modules and tasks from the pool, runs them with execute(),
 * and posts progress and the outcome back. One task at a time; the pool terminates and replaces
 * this thread when a task overruns its wall clock or is aborted.
 */
import { parentPort } from 'node:worker_threads'
import { execute } from './execute.js'
import type { ToPool, ToWorker } from './protocol.js'

const port = parentPort
if (!port) throw new Error('runtime/worker.js must run in a worker thread')

/** A task may call progress() in a tight loop; forward at most one update per interval (and the last). */
const PROGRESS_INTERVAL_MS = 50

port.on('message', (msg: ToWorker) => {
  const send = (m: ToPool, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer)
  let lastSentMs = Number.NEGATIVE_INFINITY
  const progress = (permille: number) => {
    const now = performance.now()
    if (permille !== 1000 && now - lastSentMs < PROGRESS_INTERVAL_MS) return
    lastSentMs = now
    send({ type: 'progress', id: msg.id, permille })
  }
  try {
    const outcome = execute({
      prepared: msg.prepared,
      input: msg.input,
      seed: msg.seed,
      limits: msg.limits,
      onProgress: msg.wantProgress ? progress : undefined,
    })
    send({ type: 'done', id: msg.id, outcome }, [outcome.output.buffer as ArrayBuffer])
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err))
    send({ type: 'failed', id: msg.id, name: e.name, message: e.message })
  }
})
