import type { MarketEvent } from './types.js'

/** The daemon refused the token (HTTP 401). */
export class UnauthorizedError extends Error {
  static name = 'UnauthorizedError'
  constructor() {
    super('the daemon did not accept this token')
    this.name = 'UnauthorizedError'
  }
}

const REQUEST_TIMEOUT_MS = 25_000
/** Longest wait before reconnecting a dropped event stream. */
const MAX_RECONNECT_MS = 5_000

/**
 * The control API from the page: same origin, token as `Authorization: Bearer`. Events come
 * over `fetch` streaming rather than `EventSource`, which cannot send headers: the token stays
 * out of every URL (server logs, history, Referer) and `/api/v1/events` needs no special case.
 */
export class Api {
  constructor(private readonly token: string) {}

  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    const res = await this.request(path, signal)
    return (await res.json()) as T
  }

  async bytes(path: string): Promise<Blob> {
    return (await this.request(path)).blob()
  }

  private async request(path: string, signal?: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    const res = await fetch(`/api/v1${path}`, {
      headers: { authorization: `Bearer ${this.token}` },
      signal: signal == null ? timeout : AbortSignal.any([signal, timeout]),
      cache: 'no-store',
    })
    if (res.status === 401) throw new UnauthorizedError()
    if (!res.ok) {
      const body = (await res.json().catch(() => ({}))) as { error?: string }
      throw new Error(`${path}: ${body.error ?? `HTTP ${res.status}`}`)
    }
    return res
  }

  /**
   * Follows `/api/v1/events` until `signal` aborts, reconnecting with backoff when the stream
   * drops; `onState` reports whether it is live. A 401 ends it with UnauthorizedError.
   */
  async follow(
    onEvent: (e: MarketEvent) => void,
    onState: (live: boolean) => void,
    signal: AbortSignal,
  ): Promise<void> {
    let delay = 250
    while (!signal.aborted) {
      try {
        const res = await fetch('/api/v1/events', {
          headers: { authorization: `Bearer ${this.token}`, accept: 'text/event-stream' },
          signal,
          cache: 'no-store',
        })
        if (res.status === 401) throw new UnauthorizedError()
        if (!res.ok || res.body == null) throw new Error(`events: HTTP ${res.status}`)
        onState(true)
        delay = 250
        await readEvents(res.body, onEvent)
      } catch (err) {
        if (err instanceof UnauthorizedError) throw err
      }
      onState(false)
      if (signal.aborted) return
      await new Promise((r) => setTimeout(r, delay))
      delay = Math.min(MAX_RECONNECT_MS, delay * 2)
    }
  }
}

/** Parses a `text/event-stream` body: `data:` lines of one event, events split by a blank line. */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  onEvent: (e: MarketEvent) => void,
): Promise<void> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buffer += decoder.decode(value, { stream: true }).replaceAll('\r\n', '\n')
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n')
      if (data === '') continue
      try {
        onEvent(JSON.parse(data) as MarketEvent)
      } catch {
        // a malformed event is skipped; the next refresh brings the state anyway
      }
    }
  }
}
