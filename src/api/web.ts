import { readdir, readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Where the build puts the bundled dashboard (`npm run build:web`), relative to dist/src/api. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../web/', import.meta.url))

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}

/**
 * The page loads only its own files and talks only to this origin; the token lives in the URL
 * fragment, which browsers never send, and no-referrer keeps the page's URL out of any request.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
}

interface StaticFile {
  type: string
  bytes: Buffer
}

/** What `GET /metrics` serves. */
export interface MetricsSource {
  text(): Promise<{ contentType: string; body: string }>
}

export interface WebInit {
  metrics: MetricsSource
  /** Directory of the built dashboard. @default DASHBOARD_DIR */
  dir?: string
}

/**
 * Loads the built dashboard's files once (a fixed set, so no request path ever reaches the file
 * system) and returns the API server's handler for paths outside `/api/`: the dashboard at `/`
 * and its assets, which hold no data and need no token, and `GET /metrics`, which the server
 * only lets through with the token. A daemon built without the dashboard says so at `/`.
 */
export async function webHandler(
  init: WebInit,
): Promise<(req: IncomingMessage, res: ServerResponse) => Promise<boolean>> {
  const dir = init.dir ?? DASHBOARD_DIR
  const files = new Map<string, StaticFile>()
  const names = await readdir(dir).catch(() => [] as string[])
  for (const name of names) {
    const type = CONTENT_TYPES[extname(name)]
    if (type != null) files.set(`/${name}`, { type, bytes: await readFile(join(dir, name)) })
  }
  const index = files.get('/index.html')
  if (index != null) files.set('/', index)

  return async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    if (req.method !== 'GET' && req.method !== 'HEAD') return false
    if (path === '/metrics') {
      const { contentType, body } = await init.metrics.text()
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' })
      res.end(body)
      return true
    }
    if (path === '/' && index == null) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
      res.end(`the dashboard is not built (no ${join(dir, 'index.html')}); run npm run build\n`)
      return true
    }
    const file = files.get(path)
    if (file == null) return false
    res.writeHead(200, { 'content-type': file.type, ...PAGE_HEADERS })
    res.end(req.method === 'HEAD' ? undefined : file.bytes)
    return true
  }
}
