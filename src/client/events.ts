import { createParser } from 'eventsource-parser'
import type { ApiResponse } from './transport.js'
import type { MarketEvent } from './types.js'

/** Largest single event the client buffers; the daemon's events are a few hundred bytes. */
export const MAX_EVENT_BYTES = 1024 * 1024

/**
 * Reads a `text/event-stream` body as market events until it ends or `signal` aborts (then it
 * returns quietly). Comments (the daemon's heartbeats) and events without data are skipped.
 */
export async function* readEvents(res: ApiResponse): AsyncGenerator<MarketEvent> {
  const queue: MarketEvent[] = []
  let failure: Error | undefined
  const parser = createParser({
    maxBufferSize: MAX_EVENT_BYTES,
    onEvent: (msg) => {
      if (msg.data === '') return
      try {
        queue.push(JSON.parse(msg.data) as MarketEvent)
      } catch {
        failure = new Error(`the daemon sent an event that is not JSON: ${msg.data.slice(0, 80)}`)
      }
    },
    onError: (err) => {
      failure = err
    },
  })
  const decoder = new TextDecoder()
  for await (const chunk of res.body) {
    parser.feed(decoder.decode(chunk, { stream: true }))
    if (failure != null) throw failure
    while (queue.length > 0) yield queue.shift() as MarketEvent
  }
}
