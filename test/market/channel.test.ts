/**
 * The market channel wired into the daemon's transport, on real libp2p nodes (loopback): the
 * market runs over it, falls back to per-message streams for a peer without it, reopens a broken
 * channel, and bounds what one peer may ask (size, concurrency, rate).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Libp2p, Stream } from '@libp2p/interface'
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils'
import {
  BID_PROTOCOL,
  CHANNEL_PROTOCOL,
  INVITE_PROTOCOL,
  libp2pTransport,
  MAX_CHANNEL_REQUEST_BYTES,
  type MarketTransport,
  RESULT_PROTOCOL,
} from '../../src/market/index.js'
import { bareNode, dec, enc, example, type Mesh, type MeshNode, startMesh } from './helpers.js'

const PER_STREAM = [BID_PROTOCOL, RESULT_PROTOCOL, INVITE_PROTOCOL]
const JOB_TIMEOUT_MS = 30_000

function channelStreams(n: MeshNode): Stream[] {
  return n.node.getConnections().flatMap((c) => c.streams.filter((s) => s.protocol === CHANNEL_PROTOCOL))
}

/** A k=1 job (invitations: 5 executors are enough candidates) and a k=3 job (gossip); both must finish. */
async function runJobs(mesh: Mesh): Promise<void> {
  const submitter = mesh.nodes[0]
  for (const replicas of [1, 3]) {
    const inputs = Array.from({ length: 4 }, (_, i) => ({
      name: `k${replicas}-${i}`,
      bytes: enc(`0 ${100 + i}`),
    }))
    const job = await submitter.market.submitJob({
      module: example('primes'),
      inputs,
      replicas,
      fuel: 10_000_000,
      memoryMB: 16,
    })
    const final = await submitter.market.waitForJob(job.jobId, {
      signal: AbortSignal.timeout(JOB_TIMEOUT_MS),
    })
    assert.equal(final.status, 'done', `k=${replicas}: ${JSON.stringify(final.tasks.map((t) => t.status))}`)
    for (const t of final.tasks) assert.match(dec(await submitter.market.result(t.taskId)), /\d/)
  }
}

describe('market channel: the market on real libp2p nodes', () => {
  let mesh: Mesh
  before(async () => {
    mesh = await startMesh([
      { executor: { enabled: false } },
      ...Array.from({ length: 5 }, () => ({ executor: { maxTasks: 4, memoryMB: 256 } })),
    ])
  })
  after(async () => mesh?.stop())

  it('runs jobs with the per-message protocols switched off: bids, invitations and claims ride the channel', {
    timeout: 2 * JOB_TIMEOUT_MS,
  }, async () => {
    for (const n of mesh.nodes) for (const p of PER_STREAM) await n.node.unhandle(p)
    await runJobs(mesh)
    // the submitter invited over its own channels; executors bid and claimed over theirs
    assert.ok(channelStreams(mesh.nodes[0]).length >= 5, 'the submitter holds a channel with each executor')
    for (const n of mesh.nodes.slice(1)) assert.ok(channelStreams(n).length >= 1)
  })

  it('reopens a broken channel: the next job finishes on new channel streams', {
    timeout: 2 * JOB_TIMEOUT_MS,
  }, async () => {
    const broken = new Set(mesh.nodes.flatMap(channelStreams))
    assert.ok(broken.size > 0)
    for (const s of broken) s.abort(new Error('cut by the test'))
    await runJobs(mesh)
    const now = mesh.nodes.flatMap(channelStreams)
    assert.ok(now.length > 0, 'channels are open again')
    assert.ok(
      now.every((s) => !broken.has(s)),
      'every channel in use was opened after the break',
    )
  })

  it('falls back to one stream per message for peers that do not speak the channel', {
    timeout: 2 * JOB_TIMEOUT_MS,
  }, async () => {
    // restarting the markets serves the per-message protocols again
    for (const n of mesh.nodes) {
      await n.market.stop()
      await n.market.start()
    }
    for (const n of mesh.nodes) await n.node.unhandle(CHANNEL_PROTOCOL)
    for (const s of mesh.nodes.flatMap(channelStreams)) s.abort(new Error('cut by the test'))
    await runJobs(mesh)
    assert.deepEqual(mesh.nodes.flatMap(channelStreams), [], 'no channel could be opened')
  })
})

const node = bareNode

const KIND_REQUEST = 0
const KIND_REPLY = 1
const KIND_ERROR = 2
const METHOD_BID = 0

/** A channel frame as a hostile peer would write it by hand. */
function frame(kind: number, id: number, method: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(6 + body.byteLength)
  out[0] = kind
  new DataView(out.buffer).setUint32(1, id)
  out[5] = method
  out.set(body, 6)
  return out
}

async function readFrame(lp: LengthPrefixedStream): Promise<{ kind: number; id: number; text: string }> {
  const b = (await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray()
  return { kind: b[0], id: new DataView(b.buffer, b.byteOffset).getUint32(1), text: dec(b.subarray(6)) }
}

describe('market channel: hostile input is bounded per peer', () => {
  const MAX_IN_FLIGHT = 4
  const PER_SECOND = 20
  let server: Libp2p
  let attacker: Libp2p
  let transport: MarketTransport
  let running = 0
  let handled = 0
  let release: () => void = () => {}
  let gate = Promise.resolve()
  const onRunning = new Set<() => void>()
  /** Resolves once `n` requests are inside the handler at once. */
  const runningReaches = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (running < n) return
        onRunning.delete(check)
        resolve()
      }
      onRunning.add(check)
      check()
    })

  before(async () => {
    ;[server, attacker] = await Promise.all([node(), node()])
    transport = libp2pTransport({
      registrar: server,
      dialer: server,
      onError: () => {},
      limits: { maxInFlight: MAX_IN_FLIGHT, perSecond: PER_SECOND },
    })
    await transport.handle(
      BID_PROTOCOL,
      async (body) => {
        running++
        handled++
        for (const f of [...onRunning]) f()
        await gate
        running--
        return enc(`ok ${dec(body)}`)
      },
      { maxRequestBytes: 64, timeoutMs: 10_000 },
    )
    await attacker.dial(server.getMultiaddrs()[0])
  })
  after(async () => {
    release()
    await transport?.unhandle(BID_PROTOCOL)
    await Promise.all([server?.stop(), attacker?.stop()])
  })

  const open = async (): Promise<LengthPrefixedStream> =>
    lpStream(await attacker.dialProtocol(server.peerId, CHANNEL_PROTOCOL), { maxDataLength: 1024 })

  it("refuses a request over its method's size, and closes a channel that sends a frame over every size", async () => {
    const lp = await open()
    await lp.write(frame(KIND_REQUEST, 1, METHOD_BID, new Uint8Array(65)))
    const refused = await readFrame(lp)
    assert.equal(refused.kind, KIND_ERROR)
    assert.equal(refused.id, 1)
    assert.match(refused.text, /over 64 bytes/)
    await lp.write(frame(KIND_REQUEST, 2, METHOD_BID, enc('fine')))
    assert.deepEqual(await readFrame(lp), { kind: KIND_REPLY, id: 2, text: 'ok fine' })
    await lp.write(frame(KIND_REQUEST, 3, METHOD_BID, new Uint8Array(MAX_CHANNEL_REQUEST_BYTES + 1)))
    await assert.rejects(readFrame(lp), 'the server ends the channel instead of reading the frame')
    assert.equal(handled, 1, 'only the request within its size reached the market')
  })

  it('runs at most the per-peer limit of requests at once over all its channels, and refuses the rest', async () => {
    gate = new Promise((resolve) => {
      release = resolve
    })
    handled = 0
    const channels = [await open(), await open()]
    for (let i = 0; i < 3; i++) await channels[0].write(frame(KIND_REQUEST, i, METHOD_BID, enc(`0.${i}`)))
    await runningReaches(3)
    for (let i = 0; i < 3; i++)
      await channels[1].write(frame(KIND_REQUEST, 10 + i, METHOD_BID, enc(`1.${i}`)))
    // the refusals come back at once, while the admitted requests wait on the gate
    const refusals = [await readFrame(channels[1]), await readFrame(channels[1])]
    for (const r of refusals) {
      assert.equal(r.kind, KIND_ERROR)
      assert.match(r.text, /too many requests in flight \(at most 4\)/)
    }
    await runningReaches(MAX_IN_FLIGHT)
    assert.equal(running, MAX_IN_FLIGHT)
    // a per-message stream from the same peer counts against the same limit
    await assert.rejects(async () => {
      const lp = lpStream(await attacker.dialProtocol(server.peerId, BID_PROTOCOL))
      await lp.write(enc('around the channel'))
      await lp.read({ signal: AbortSignal.timeout(10_000) })
    }, 'the server resets the stream unread')
    assert.equal(handled, MAX_IN_FLIGHT)
    release()
    const replies = []
    for (let i = 0; i < 3; i++) replies.push(await readFrame(channels[0]))
    replies.push(await readFrame(channels[1]))
    assert.deepEqual(replies.map((r) => r.text).sort(), ['ok 0.0', 'ok 0.1', 'ok 0.2', 'ok 1.0'])
  })

  it('refuses requests over the per-peer rate', async () => {
    const COUNT = 10 * PER_SECOND
    handled = 0
    const lp = await open()
    for (let i = 0; i < COUNT; i++) await lp.write(frame(KIND_REQUEST, i, METHOD_BID, enc(`${i}`)))
    const replies = []
    for (let i = 0; i < COUNT; i++) replies.push(await readFrame(lp))
    const perSecond = replies.filter((r) => r.kind === KIND_ERROR && /per second/.test(r.text))
    assert.ok(perSecond.length > 0, 'some requests are refused for the rate')
    assert.equal(handled, replies.filter((r) => r.kind === KIND_REPLY).length)
    assert.ok(handled < COUNT)
  })
})
