import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** Paths outside `/api/` that hold data and so need the token too. */
const TOKEN_PATHS = new Set(['/metrics'])

/** Largest request body the API reads (a submitted job carries its module and inputs). */
export const MAX_API_BODY_BYTES = 256 * 1024 * 1024

export class ApiError extends Error {
  static name = 'ApiError'
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

export interface ApiRequest {
  method: string
  /** Path below `/api/v1`, e.g. `/peers`. */
  path: string
  params: Record<string, string>
  query: URLSearchParams
  body(): Promise<unknown>
  signal: AbortSignal
}

/** A handler returns JSON (any value), raw bytes, or writes a stream itself with `res`. */
export type Handler = (req: ApiRequest, res: ServerResponse) => Promise<unknown>

export interface Route {
  method: 'GET' | 'POST' | 'DELETE'
  /** `/tasks/:id` style pattern below `/api/v1`. */
  path: string
  handler: Handler
}

export interface ApiServerInit {
  host: string
  port: number
  token: string
  routes: Route[]
  /** Serves paths outside `/api/` (the dashboard, `/metrics`); `/metrics` only gets here with the token. */
  other?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>
}

interface Compiled {
  method: string
  re: RegExp
  names: string[]
  handler: Handler
}

function compile(route: Route): Compiled {
  const names: string[] = []
  const re = new RegExp(
    `^${route.path.replace(/:([a-zA-Z]+)/g, (_, n: string) => {
      names.push(n)
      return '([^/]+)'
    })}$`,
  )
  return { method: route.method, re, names, handler: route.handler }
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength
    if (size > MAX_API_BODY_BYTES) throw new ApiError(413, `request body over ${MAX_API_BODY_BYTES} bytes`)
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return {}
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new ApiError(400, 'request body is not valid JSON')
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
  res.end(body)
}

/**
 * The control API: HTTP on loopback, `/api/v1/...` and `/metrics` behind a bearer token. Any
 * `/api/` or `/metrics` request with a missing or wrong token gets 401 before routing, so an
 * unauthenticated caller learns nothing about which routes exist.
 */
export class ApiServer {
  private server?: Server
  private readonly routes: Compiled[]
  private readonly token: Buffer
  private readonly controller = new AbortController()

  constructor(private readonly init: ApiServerInit) {
    this.routes = init.routes.map(compile)
    this.token = Buffer.from(`Bearer ${init.token}`)
  }

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) sendJson(res, 500, { error: err.message })
        else res.destroy()
      })
    })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.init.port, this.init.host, () => resolve())
    })
    const addr = server.address() as AddressInfo
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    return `http://${host}:${addr.port}`
  }

  async stop(): Promise<void> {
    this.controller.abort()
    const server = this.server
    if (server == null) return
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  private authorized(req: IncomingMessage): boolean {
    const header = Buffer.from(req.headers.authorization ?? '')
    return header.byteLength === this.token.byteLength && timingSafeEqual(header, this.token)
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const api = url.pathname.startsWith('/api/')
    if ((api || TOKEN_PATHS.has(url.pathname)) && !this.authorized(req)) {
      sendJson(res, 401, { error: 'missing or wrong API token (see api.json in the data directory)' })
      return
    }
    if (!api) {
      if (this.init.other != null && (await this.init.other(req, res))) return
      sendJson(res, 404, { error: 'not found' })
      return
    }
    if (!url.pathname.startsWith('/api/v1/')) {
      sendJson(res, 404, { error: `unknown API version in ${url.pathname}; this daemon serves /api/v1/` })
      return
    }
    const path = url.pathname.slice('/api/v1'.length)
    const method = req.method ?? 'GET'
    for (const r of this.routes) {
      const m = r.re.exec(path)
      if (m == null) continue
      if (r.method !== method) continue
      const params: Record<string, string> = {}
      r.names.forEach((n, i) => {
        params[n] = decodeURIComponent(m[i + 1])
      })
      const closed = new AbortController()
      res.once('close', () => closed.abort())
      const signal = AbortSignal.any([closed.signal, this.controller.signal])
      try {
        const out = await r.handler(
          { method, path, params, query: url.searchParams, body: () => readBody(req), signal },
          res,
        )
        if (res.headersSent || res.writableEnded) return
        if (out instanceof Uint8Array) {
          res.writeHead(200, { 'content-type': 'application/octet-stream' })
          res.end(out)
        } else {
          sendJson(res, 200, out ?? {})
        }
      } catch (err) {
        const status = err instanceof ApiError ? err.status : 500
        if (!res.headersSent)
          sendJson(res, status, { error: (err as Error).message, name: (err as Error).name })
      }
      return
    }
    sendJson(res, 404, { error: `no such API route: ${method} ${path}` })
  }
}
