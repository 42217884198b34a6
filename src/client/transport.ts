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

/**
 * Sends one request to `/api/v1` and turns every failure into a named error that says what
 * happened: nothing listening, no answer in time, or the daemon's own HTTP error.
 */
export async function send(
  endpoint: Endpoint,
  method: string,
  path: string,
  body: unknown,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Response> {
  signal?.throwIfAborted()
  const timer = new AbortController()
  const timeout = setTimeout(() => timer.abort(), timeoutMs)
  const url = `${endpoint.url}/api/v1${path}`
  let res: Response
  try {
    res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${endpoint.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signal == null ? timer.signal : AbortSignal.any([signal, timer.signal]),
    })
  } catch (err) {
    if (signal?.aborted === true) throw signal.reason
    if (timer.signal.aborted) throw new DaemonTimeoutError(endpoint.url, timeoutMs)
    throw unreachable(endpoint, err)
  } finally {
    clearTimeout(timeout)
  }
  if (!res.ok) throw await httpError(endpoint, res)
  return res
}

function unreachable(endpoint: Endpoint, err: unknown): DaemonUnreachableError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  const code = cause?.code
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
  const why = code ?? cause?.message ?? (err as Error).message
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

async function httpError(endpoint: Endpoint, res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`
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
