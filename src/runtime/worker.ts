/**
 * A task worker process (started by sandbox.ts): compiles the rewritten modules the pool sends,
 * keeps them in an LRU that the pool mirrors, runs one task at a time with execute(), and sends
 * progress and the outcome back. The pool SIGKILLs and replaces this process when a task
 * overruns its wall clock or is aborted; it exits by itself when the pool goes away.
 *
 * Arguments: `--cache-entries=N --cache-bytes=N`, the bounds of the module cache (the pool's
 * mirror uses the same).
 */
import { wasm } from './engine.js'
import { execute } from './execute.js'
import { SizedLru } from './lru.js'
import type { PreparedModule } from './prepare.js'
import type { ToPool, ToWorker } from './protocol.js'

/** A task may call progress() in a tight loop; forward at most one update per interval (and the last). */
const PROGRESS_INTERVAL_MS = 50

const send = process.send?.bind(process)
if (!send) throw new Error('runtime/worker.js must be started by the runtime pool')

const arg = (name: string): number => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`))
  const n = Number(a?.slice(name.length + 3))
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`)
  return n
}
const lru = new SizedLru(arg('cache-entries'), arg('cache-bytes'))
const cache = new Map<string, Promise<PreparedModule>>()

function preparedFor(msg: ToWorker): Promise<PreparedModule> | undefined {
  const m = msg.module
  if (!m) return lru.use(msg.key) ? cache.get(msg.key) : undefined
  const p = wasm.compile(m.bytes).then((module) => ({ module, memory: m.memory, hasStart: m.hasStart }))
  p.catch(() => {}) // reported to the task that awaits it
  cache.set(msg.key, p)
  for (const k of lru.add(msg.key, m.bytes.length)) cache.delete(k)
  return p
}

// Tasks arrive one at a time (the pool waits for each outcome), so runs never overlap.
process.on('message', async (msg: ToWorker) => {
  let lastSentMs = Number.NEGATIVE_INFINITY
  const progress = (permille: number) => {
    const now = performance.now()
    if (permille !== 1000 && now - lastSentMs < PROGRESS_INTERVAL_MS) return
    lastSentMs = now
    send({ type: 'progress', id: msg.id, permille } satisfies ToPool)
  }
  try {
    const pending = preparedFor(msg)
    if (!pending) throw new Error(`the worker does not hold module ${msg.key}`)
    const prepared = await pending
    const outcome = execute({
      prepared,
      input: msg.input,
      seed: msg.seed,
      limits: msg.limits,
      onProgress: msg.wantProgress ? progress : undefined,
    })
    send({ type: 'done', id: msg.id, outcome } satisfies ToPool)
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err))
    send({ type: 'failed', id: msg.id, name: e.name, message: e.message } satisfies ToPool)
  }
})

// Ctrl-C reaches the whole process group; the daemon decides when its workers end.
process.on('SIGINT', () => {})
// The pool is gone (the daemon exited or was killed): nothing more will come.
process.on('disconnect', () => process.exit(0))
send({ type: 'ready' } satisfies ToPool)
