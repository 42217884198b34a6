import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LocalMesh } from '../../src/cli/local-mesh.js'
import { API_FILE } from '../../src/config.js'
import { BIN } from '../cli/helpers.js'

export { until } from '../cli/helpers.js'

export const PRIMES = fileURLToPath(new URL('../../../examples/build/primes.wasm', import.meta.url))

export interface ApiAccess {
  url: string
  token: string
}

/** The control API's address and token, as `plusone` reads them from the data directory. */
export async function apiOf(dataDir: string): Promise<ApiAccess> {
  const { url, token } = JSON.parse(await readFile(join(dataDir, API_FILE), 'utf8'))
  return { url, token }
}

/** Calls the control API with the token; throws with the server's message on an error status. */
export async function api<T>(a: ApiAccess, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${a.url}/api/v1${path}`, {
    method: body == null ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
    body: body == null ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${text}`)
  return JSON.parse(text) as T
}

/** A mesh of real daemon processes (private swarm on loopback) that every node can execute on. */
export function realMesh(size: number): LocalMesh {
  return new LocalMesh(size, () => {}, ['--memory', '512', '--max-tasks', '2'], BIN)
}

/**
 * Subscribes to the daemon's event stream (server-sent events); once subscribed, resolves with
 * `event`, the first event `match` accepts. Subscribe before causing the event; `signal` bounds
 * the wait and ends the stream.
 */
export async function nextEvent<T extends { type: string }>(
  a: ApiAccess,
  match: (e: T) => boolean,
  signal: AbortSignal,
): Promise<{ event: Promise<T> }> {
  const res = await fetch(`${a.url}/api/v1/events`, {
    headers: { authorization: `Bearer ${a.token}` },
    signal,
  })
  if (!res.ok || res.body == null) throw new Error(`events: HTTP ${res.status}`)
  const body = res.body
  const event = (async () => {
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of body) {
      buffer += decoder.decode(chunk, { stream: true })
      let end = buffer.indexOf('\n\n')
      while (end >= 0) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n')
        buffer = buffer.slice(end + 2)
        if (data !== '') {
          const e = JSON.parse(data) as T
          if (match(e)) return e
        }
        end = buffer.indexOf('\n\n')
      }
    }
    throw new Error('the event stream ended')
  })()
  return { event }
}

/** A job of the primes example over `inputs` ranges, as `POST /api/v1/jobs` takes it. */
export async function primesJob(ranges: string[], replicas = 1): Promise<unknown> {
  return {
    module: (await readFile(PRIMES)).toString('base64'),
    inputs: ranges.map((r, i) => ({ name: `r${i}.txt`, data: Buffer.from(r).toString('base64') })),
    replicas,
  }
}
