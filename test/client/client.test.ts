/**
 * The client against a scripted daemon (node:http on loopback): how it follows events, when it
 * reads state, and how it ends. The real daemon is exercised in package.test.ts.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { ApiError, connect, type JobView, type PlusoneClient } from '../../src/client/index.js'

type Handler = (req: IncomingMessage, res: ServerResponse) => void

describe('PlusoneClient against a scripted daemon', () => {
  let server: Server
  let client: PlusoneClient
  const routes = new Map<string, Handler>()
  const streams: ServerResponse[] = []
  const seen: Array<{ method: string; path: string; auth?: string }> = []

  before(async () => {
    server = createServer((req, res) => {
      seen.push({ method: req.method ?? '', path: req.url ?? '', auth: req.headers.authorization })
      const h = routes.get(`${req.method} ${req.url}`)
      if (h == null) {
        res.writeHead(404, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: `no route ${req.url}`, name: 'UnknownTaskError' }))
      } else h(req, res)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    client = await connect({ url: `http://127.0.0.1:${port}`, token: 'secret' })
  })
  after(async () => {
    for (const s of streams) s.destroy()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })

  function openStream(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(': plusone events\n\n')
    streams.push(res)
  }

  const job = (status: JobView['status'], done: number): JobView => ({
    jobId: 'J',
    status,
    createdAt: 1,
    tasks: [0, 1].map((i) => ({ taskId: `T${i}`, input: `i${i}`, status: i < done ? 'done' : 'running' })),
  })

  it('sends the bearer token and maps a 404 to ApiError with the daemon’s words', async () => {
    await assert.rejects(client.task('nope'), (err: Error) => {
      assert.ok(err instanceof ApiError)
      assert.equal(err.status, 404)
      assert.equal(err.remoteName, 'UnknownTaskError')
      assert.equal(err.message, 'no route /api/v1/tasks/nope')
      return true
    })
    assert.equal(seen.at(-1)?.auth, 'Bearer secret')
  })

  it('progress: subscribes before it reads the state, so a task finishing in between is not missed', async () => {
    const order: string[] = []
    routes.set('GET /api/v1/events', (_req, res) => {
      order.push('events')
      openStream(res)
      // the job finishes while the client reads its state: the event is already on the stream
      routes.set('GET /api/v1/jobs/J', (_q, r) => {
        order.push('state')
        res.write(
          `event: job\ndata: ${JSON.stringify({ type: 'job', jobId: 'J', status: 'done', done: 2, failed: 0, total: 2 })}\n\n`,
        )
        r.writeHead(200, { 'content-type': 'application/json' })
        r.end(JSON.stringify(job('running', 1)))
      })
    })
    const handle = await client.attach('J').catch(() => undefined)
    assert.equal(handle, undefined, 'no state route yet')
    routes.set('GET /api/v1/jobs/J', (_q, r) => {
      r.writeHead(200, { 'content-type': 'application/json' })
      r.end(JSON.stringify(job('running', 0)))
    })
    const j = await client.attach('J')
    order.length = 0
    const steps = []
    for await (const p of j.progress()) steps.push([p.done, p.total, p.status])
    assert.deepEqual(order, ['events', 'state'])
    assert.deepEqual(steps, [
      [1, 2, 'running'],
      [2, 2, 'done'],
    ])
  })

  it('progress: reports why the job waits, from stuck events of its own tasks only', async () => {
    routes.set('GET /api/v1/jobs/J', (_q, r) => {
      r.writeHead(200, { 'content-type': 'application/json' })
      r.end(JSON.stringify(job('running', 0)))
    })
    routes.set('GET /api/v1/events', (_req, res) => {
      openStream(res)
      setImmediate(() => {
        // a frame split across writes, heartbeats between frames: the parser reassembles them
        res.write(
          'event: stuck\ndata: {"type":"stuck","taskId":"OTHER","waiting":"not ours"}\n\n: heartbeat\n\n',
        )
        res.write('event: stu')
        res.write('ck\ndata: {"type":"stuck","taskId":"T1",')
        res.write('"waiting":"no bids for 5 s"}\n')
        res.write('\n: heartbeat\n\n')
        res.write(
          'event: job\ndata: {"type":"job","jobId":"J","status":"failed","done":1,"failed":1,"total":2}\n\n',
        )
      })
    })
    const j = await client.attach('J')
    const steps = []
    for await (const p of j.progress()) steps.push([p.done, p.failed, p.status, p.waiting ?? null])
    assert.deepEqual(steps, [
      [0, 0, 'running', null],
      [0, 0, 'running', 'no bids for 5 s'],
      [1, 1, 'failed', null],
    ])
  })

  it('events: an aborted signal ends the iteration quietly and closes the stream', async () => {
    let closed!: () => void
    const streamClosed = new Promise<void>((r) => {
      closed = r
    })
    routes.set('GET /api/v1/events', (_req, res) => {
      openStream(res)
      res.on('close', () => closed())
      res.write('event: task\ndata: {"type":"task","taskId":"T0","jobId":"J","status":"done"}\n\n')
    })
    const stop = new AbortController()
    const got: string[] = []
    for await (const e of client.events({ signal: stop.signal })) {
      got.push(e.type)
      stop.abort()
    }
    assert.deepEqual(got, ['task'])
    await streamClosed
  })

  it('events: an event that is not JSON is an error that says so', async () => {
    routes.set('GET /api/v1/events', (_req, res) => {
      openStream(res)
      res.write('data: {oops\n\n')
    })
    await assert.rejects(async () => {
      for await (const _ of client.events()) {
        // no event arrives
      }
    }, /the daemon sent an event that is not JSON: \{oops/)
  })

  it('result: a job’s outputs come back as bytes, null for tasks not done', async () => {
    routes.set('GET /api/v1/jobs/J', (_q, r) => {
      r.writeHead(200, { 'content-type': 'application/json' })
      r.end(JSON.stringify(job('failed', 1)))
    })
    routes.set('GET /api/v1/events', (_req, res) => openStream(res))
    routes.set('GET /api/v1/tasks/T0/result', (_q, r) => {
      r.writeHead(200, { 'content-type': 'application/octet-stream' })
      r.end(Buffer.from([1, 2, 3]))
    })
    const res = await (await client.attach('J')).result()
    assert.equal(res.status, 'failed')
    assert.deepEqual(res.tasks[0].output, new Uint8Array([1, 2, 3]))
    assert.equal(res.tasks[1].output, null)
  })

  it('submit: bytes go as base64, max price in micro-credits, fuel as a number', async () => {
    let body: Record<string, unknown> = {}
    routes.set('POST /api/v1/jobs', (req, res) => {
      let text = ''
      req.on('data', (d) => {
        text += d
      })
      req.on('end', () => {
        body = JSON.parse(text)
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ jobId: 'J2', tasks: [{ taskId: 'T9', input: 'a' }] }))
      })
    })
    const j = await client.submit({
      module: new Uint8Array([0, 97, 115, 109]),
      inputs: [{ name: 'a', data: new TextEncoder().encode('hi') }],
      replicas: 'auto',
      fuel: 5n * 10n ** 9n,
      maxPrice: 2.5,
    })
    assert.equal(j.jobId, 'J2')
    assert.deepEqual(j.tasks, [{ taskId: 'T9', input: 'a' }])
    assert.deepEqual(body, {
      module: 'AGFzbQ==',
      inputs: [{ name: 'a', data: 'aGk=' }],
      replicas: 'auto',
      fuel: 5_000_000_000,
      maxPrice: 2_500_000,
    })
  })
})
