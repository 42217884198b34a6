import type { ServerResponse } from 'node:http'
import type { JobRequest, Market, MarketEvent } from '../market/index.js'
import { ApiError, type Route } from './server.js'

const MAX_INPUTS = 10_000
const SSE_HEARTBEAT_MS = 15_000

export type { SubmitBody } from '../client/types.js'

function optionalNumber(body: Record<string, unknown>, key: string): number | undefined {
  const v = body[key]
  if (v == null) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new ApiError(400, `"${key}" must be a number ≥ 0`)
  return v
}

function replicasOf(body: Record<string, unknown>): number | 'auto' | undefined {
  const v = body.replicas
  if (v === 'auto') return 'auto'
  if (v != null && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1))
    throw new ApiError(400, '"replicas" must be a whole number ≥ 1 or "auto"')
  return v ?? undefined
}

function base64(value: unknown, what: string): Uint8Array {
  if (typeof value !== 'string') throw new ApiError(400, `${what} must be a base64 string`)
  return new Uint8Array(Buffer.from(value, 'base64'))
}

export function parseSubmit(raw: unknown): JobRequest {
  if (raw == null || typeof raw !== 'object') throw new ApiError(400, 'the body must be a JSON object')
  const body = raw as Record<string, unknown>
  if (!Array.isArray(body.inputs) || body.inputs.length === 0)
    throw new ApiError(400, '"inputs" must list at least one input')
  if (body.inputs.length > MAX_INPUTS) throw new ApiError(400, `at most ${MAX_INPUTS} inputs per job`)
  const inputs = body.inputs.map((i: unknown, n: number) => {
    const item = i as { name?: unknown; data?: unknown }
    if (typeof item?.name !== 'string' || item.name.length === 0)
      throw new ApiError(400, `input ${n} has no name`)
    return { name: item.name, bytes: base64(item.data, `input ${item.name}`) }
  })
  return {
    module: base64(body.module, '"module"'),
    inputs,
    replicas: replicasOf(body),
    fuel: optionalNumber(body, 'fuel'),
    memoryMB: optionalNumber(body, 'memoryMB'),
    maxOutputBytes: optionalNumber(body, 'maxOutputBytes'),
    deadlineMs: optionalNumber(body, 'deadlineMs'),
    maxPrice: optionalNumber(body, 'maxPrice'),
  }
}

/** Maps the market's "unknown id" and "bad request" errors to 404 and 400. */
async function mapped<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    const name = (err as Error).name
    if (name === 'UnknownTaskError' || name === 'NoResultError')
      throw new ApiError(404, (err as Error).message)
    if (name === 'InvalidJobError' || name === 'InvalidTaskSpecError')
      throw new ApiError(400, (err as Error).message)
    if (name === 'JobBusyError') throw new ApiError(409, (err as Error).message)
    throw err
  }
}

function streamEvents(market: Market, res: ServerResponse, signal: AbortSignal): Promise<void> {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  })
  res.write(': plusone events\n\n')
  return new Promise((resolve) => {
    const off = market.on((e: MarketEvent) => {
      res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`)
    })
    const beat = setInterval(() => res.write(': heartbeat\n\n'), SSE_HEARTBEAT_MS)
    signal.addEventListener(
      'abort',
      () => {
        off()
        clearInterval(beat)
        res.end()
        resolve()
      },
      { once: true },
    )
  })
}

/** Jobs and tasks: submit, watch, fetch results, cancel. */
export function marketRoutes(market: Market): Route[] {
  return [
    {
      method: 'POST',
      path: '/jobs',
      handler: async ({ body }) => mapped(async () => market.submitJob(parseSubmit(await body()))),
    },
    { method: 'GET', path: '/jobs', handler: async () => market.listJobs() },
    {
      method: 'GET',
      path: '/jobs/:id',
      handler: async ({ params }) => mapped(() => market.jobStatus(params.id)),
    },
    {
      method: 'DELETE',
      path: '/jobs/:id',
      handler: async ({ params }) => mapped(() => market.removeJob(params.id)),
    },
    { method: 'GET', path: '/tasks', handler: async () => market.listTasks() },
    {
      method: 'GET',
      path: '/tasks/:id',
      handler: async ({ params }) => mapped(() => market.taskStatus(params.id)),
    },
    {
      method: 'GET',
      path: '/tasks/:id/result',
      handler: async ({ params }) => mapped(() => market.result(params.id)),
    },
    {
      method: 'POST',
      path: '/cancel/:id',
      handler: async ({ params }) => {
        await mapped(() => market.cancel(params.id))
        return { cancelled: params.id }
      },
    },
    { method: 'GET', path: '/stats', handler: async () => market.stats() },
    { method: 'GET', path: '/events', handler: async ({ signal }, res) => streamEvents(market, res, signal) },
  ]
}
