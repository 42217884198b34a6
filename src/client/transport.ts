import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { ApiError, DaemonTimeoutError, DaemonUnreachableError } from './errors.js'

/** What the transport needs to reach one daemon. */
export interface Endpoint {
  /** Base URL, e.g. `http://127.0.0.1:4567` (no `/api/v1`). */
  url: string
  token: string
  /** Where the address came from, for error messages (e.g. `/home/me/.plusone/api.json`). */
  source?: string
  /** The daemon's pid as api.json records it, to tell a dead daemon from a hung one. */
  pid?: number
}

export interface RequestOptions {
  signal?: AbortSignal
  /** How long to wait for the daemon's answer to start (headers). @default the client's timeoutMs */
  timeoutMs?: number
}

/** The daemon's answer: status and headers, and the body read once, as it arrives or whole. */
export interface ApiResponse {
  status: number
  headers: IncomingHttpHeaders
  /** The body as it arrives; ends early (quietly) when the request's signal aborts. */
  body: AsyncIterable<Uint8Array>
  bytes(): Promise<Uint8Array>
  text(): Promise<string>
  json<T>(): Promise<T>
}

/**
 * Sends one request to `/api/v1` and turns every failure into a named error that says what
 * happened: nothing listening, no answer in time, or the daemon's own HTTP error. node:http
 * rather than fetch: fetch's first use costs a CLI command several times node's own start-up.
 */
export async function send(
  endpoint: Endpoint,
  method: string,
  path: string,
  body: unknown,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ApiResponse> {
  signal?.throwIfAborted()
  const url = new URL(`${endpoint.url}/api/v1${path}`)
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http')
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent: false,
        signal,
        headers: {
          authorization: `Bearer ${endpoint.token}`,
          ...(payload == null
            ? {}
            : { 'content-type': 'application/json', 'content-length': payload.byteLength }),
        },
      },
      (r) => {
        clearTimeout(timer)
        resolve(r)
      },
    )
    const timer = setTimeout(() => req.destroy(new DaemonTimeoutError(endpoint.url, timeoutMs)), timeoutMs)
    req.on('error', (err) => {
      clearTimeout(timer)
      if (signal?.aborted === true) reject(signal.reason)
      else if (err instanceof DaemonTimeoutError) reject(err)
      else reject(unreachable(endpoint, err))
    })
    req.end(payload)
  })
  const response = wrap(res, signal)
  if (res.statusCode == null || res.statusCode >= 400) throw await httpError(endpoint, response)
  return response
}

function wrap(res: IncomingMessage, signal?: AbortSignal): ApiResponse {
  const bytes = async (): Promise<Uint8Array> => {
    const chunks: Buffer[] = []
    for await (const c of res) chunks.push(c as Buffer)
    const all = Buffer.concat(chunks)
    return new Uint8Array(all.buffer, all.byteOffset, all.byteLength)
  }
  const text = async (): Promise<string> => Buffer.from(await bytes()).toString('utf8')
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    body: {
      async *[Symbol.asyncIterator]() {
        try {
          for await (const c of res) yield c as Uint8Array
        } catch (err) {
          if (signal?.aborted !== true) throw err
        } finally {
          res.destroy()
        }
      },
    },
    bytes,
    text,
    json: async <T>() => JSON.parse(await text()) as T,
  }
}

function unreachable(endpoint: Endpoint, err: unknown): DaemonUnreachableError {
  const code = (err as NodeJS.ErrnoException).code
  const from = endpoint.source == null ? '' : ` (from ${endpoint.source})`
  if (code === 'ECONNREFUSED') {
    const dead = endpoint.pid != null && !alive(endpoint.pid)
    return new DaemonUnreachableError(
      endpoint.url,
      dead
        ? `no plusone daemon is running: the daemon (pid ${endpoint.pid}) that wrote ${endpoint.source ?? 'api.json'} has exited and nothing listens at ${endpoint.url}`
        : `the daemon at ${endpoint.url}${from} refused the connection: nothing listens there`,
      { cause: err },
    )
  }
  const why = (err as Error).message
  return new DaemonUnreachableError(
    endpoint.url,
    `cannot reach the daemon at ${endpoint.url}${from}: ${why}`,
    {
      cause: err,
    },
  )
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function httpError(endpoint: Endpoint, res: ApiResponse): Promise<ApiError> {
  let message = `HTTP ${res.status}`
  let name: string | undefined
  try {
    const j = (await res.json()) as { error?: string; name?: string }
    if (typeof j.error === 'string') message = j.error
    if (typeof j.name === 'string') name = j.name
  } catch {}
  if (res.status === 401)
    message = `the daemon at ${endpoint.url} refused the API token${endpoint.source == null ? '' : ` in ${endpoint.source}`} (is it another daemon's address?)`
  return new ApiError(res.status, message, name)
}
