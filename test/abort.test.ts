import assert from 'node:assert/strict'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, it } from 'node:test'
import { withTimeout } from '../src/abort.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Resolves with the signal's abort reason's name, or 'never' if it has not aborted within `ms`. */
function abortedWithin(signal: AbortSignal, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const guard = setTimeout(() => resolve('never'), ms)
    signal.addEventListener('abort', () => {
      clearTimeout(guard)
      resolve((signal.reason as Error).name)
    })
  })
}

describe('withTimeout', () => {
  it('fires its timeout even when a garbage collection runs while it waits', async () => {
    const parent = new AbortController() // a long-lived shutdown signal that never aborts
    const outcomes: string[] = []
    for (let i = 0; i < 10; i++) {
      outcomes.push(
        await withTimeout(parent.signal, 30, async (signal) => {
          const done = abortedWithin(signal, 3_000)
          // a collection after this turn: AbortSignal.any([parent, AbortSignal.timeout(30)]) fires
          // 0 times in 10 here on Node 20
          setTimeout(gc, 5)
          return done
        }),
      )
    }
    assert.deepEqual(outcomes, Array(10).fill('TimeoutError'))
  })

  it('aborts when the parent does, and lets go of the parent afterwards', async () => {
    const parent = new AbortController()
    const seen = await withTimeout(parent.signal, 60_000, async (signal) => {
      const done = abortedWithin(signal, 3_000)
      parent.abort(new Error('shutting down'))
      return done
    })
    assert.equal(seen, 'Error')
    const other = new AbortController()
    let inner: AbortSignal | undefined
    await withTimeout(other.signal, 60_000, async (signal) => {
      inner = signal
    })
    other.abort()
    assert.equal(inner?.aborted, false, 'once fn is done the parent no longer reaches its signal')
  })
})
