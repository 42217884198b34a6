import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Connection, Libp2p } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  BID_PROTOCOL,
  CHANNEL_PROTOCOL,
  channelResponder,
  MarketWire,
  RESULT_PROTOCOL,
  request,
  type Responder,
  responder,
} from '../../src/market/wire.js'
import { keptDirection } from '../../src/network/index.js'
import { bareNode } from './helpers.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array): string => new TextDecoder().decode(b)
const timeout = (): AbortSignal => AbortSignal.timeout(5_000)

const node = bareNode

function streamsOf(conn: Connection | undefined, protocol: string): number {
  return conn?.streams.filter((s) => s.protocol === protocol).length ?? 0
}

describe('market wire: the channel', () => {
  let submitter: Libp2p
  let executor: Libp2p
  let legacyOnly: Libp2p
  let submitterAddr: Multiaddr
  let perStreamRequests = 0
  const serving = new AbortController()
  const errors: string[] = []
  const bid: Responder = {
    maxRequestBytes: 64,
    timeoutMs: 2_000,
    respond: async (body, _conn, signal) => {
      const text = dec(body)
      if (text === 'refuse me') throw new Error('not today')
      const wait = text.startsWith('slow') ? 300 : Math.floor(Math.random() * 20)
      await new Promise((resolve, reject) => {
        const t = setTimeout(resolve, wait)
        signal.addEventListener('abort', () => {
          clearTimeout(t)
          reject(signal.reason)
        })
      })
      return enc(`bid reply to ${text}`)
    },
  }
  const result: Responder = {
    ...bid,
    maxRequestBytes: 256,
    respond: async (body) => enc(`result reply to ${dec(body)}`),
  }

  before(async () => {
    ;[submitter, executor, legacyOnly] = await Promise.all([node(), node(), node()])
    const onError = (err: Error): void => {
      errors.push(err.message)
    }
    await submitter.handle(
      CHANNEL_PROTOCOL,
      channelResponder({ [BID_PROTOCOL]: bid, [RESULT_PROTOCOL]: result }, onError, serving.signal),
    )
    await submitter.handle(BID_PROTOCOL, async (stream, conn) => {
      perStreamRequests++
      await responder(bid.maxRequestBytes, bid.timeoutMs, bid.respond, onError)(stream, conn)
    })
    // an older plusone: per-stream protocols only
    await legacyOnly.handle(BID_PROTOCOL, responder(bid.maxRequestBytes, bid.timeoutMs, bid.respond, onError))
    submitterAddr = submitter.getMultiaddrs()[0]
    await executor.dial(submitterAddr)
    await executor.dial(legacyOnly.getMultiaddrs()[0])
  })
  after(async () => {
    await Promise.all([submitter?.stop(), executor?.stop(), legacyOnly?.stop()])
  })

  it('carries many concurrent requests on one stream, each answered with its own reply', async () => {
    const wire = new MarketWire(executor)
    const asks = Array.from({ length: 60 }, (_, i) => `task ${i}`)
    const replies = await Promise.all(
      asks.map((a, i) =>
        request(wire, submitter.peerId, i % 2 === 0 ? BID_PROTOCOL : RESULT_PROTOCOL, enc(a), 128, timeout()),
      ),
    )
    assert.deepEqual(
      replies.map(dec),
      asks.map((a, i) => `${i % 2 === 0 ? 'bid' : 'result'} reply to ${a}`),
    )
    const conn = executor.getConnections(submitter.peerId)[0]
    assert.equal(streamsOf(conn, CHANNEL_PROTOCOL), 1, 'one channel stream carried every request')
    assert.equal(perStreamRequests, 0, 'no request needed a stream of its own')
    wire.stop()
  })

  it('asks a peer without the channel over one stream per request', async () => {
    const wire = new MarketWire(executor)
    for (const ask of ['first', 'second']) {
      const reply = await request(wire, legacyOnly.peerId, BID_PROTOCOL, enc(ask), 128, timeout())
      assert.equal(dec(reply), `bid reply to ${ask}`)
    }
    wire.stop()
  })

  it("answers a refused request, or one over its method's limit, with an error on the same channel", async () => {
    const wire = new MarketWire(executor)
    await assert.rejects(request(wire, submitter.peerId, BID_PROTOCOL, enc('refuse me'), 128, timeout()), {
      name: 'MarketChannelError',
      message: /not today/,
    })
    await assert.rejects(request(wire, submitter.peerId, BID_PROTOCOL, new Uint8Array(65), 128, timeout()), {
      name: 'MarketChannelError',
      message: /over 64 bytes/,
    })
    await assert.rejects(request(wire, submitter.peerId, BID_PROTOCOL, enc('long reply'), 8, timeout()), {
      message: /reply over 8 bytes/,
    })
    assert.equal(
      dec(await request(wire, submitter.peerId, BID_PROTOCOL, enc('after'), 128, timeout())),
      'bid reply to after',
    )
    assert.equal(streamsOf(executor.getConnections(submitter.peerId)[0], CHANNEL_PROTOCOL), 1)
    wire.stop()
  })

  it('refuses a request over every limit by closing the channel, and opens a new one for the next', async () => {
    const wire = new MarketWire(executor)
    await assert.rejects(request(wire, submitter.peerId, BID_PROTOCOL, new Uint8Array(4096), 128, timeout()))
    assert.equal(
      dec(await request(wire, submitter.peerId, BID_PROTOCOL, enc('after'), 128, timeout())),
      'bid reply to after',
    )
    wire.stop()
  })

  it('rejects an aborted request at once and drops its late reply', async () => {
    const wire = new MarketWire(executor)
    const controller = new AbortController()
    const slow = request(wire, submitter.peerId, BID_PROTOCOL, enc('slow one'), 128, controller.signal)
    setTimeout(() => controller.abort(new Error('gave up')), 20)
    await assert.rejects(slow, { message: 'gave up' })
    assert.equal(
      dec(await request(wire, submitter.peerId, BID_PROTOCOL, enc('next'), 128, timeout())),
      'bid reply to next',
    )
    wire.stop()
  })

  it('closes a channel that sends a malformed frame, and serves the next one', async () => {
    const before = errors.length
    const stream = await executor.dialProtocol(submitter.peerId, CHANNEL_PROTOCOL)
    const lp = lpStream(stream)
    await lp.write(Uint8Array.from([9, 0, 0, 0, 1, 0, 1, 2, 3]))
    await assert.rejects(lp.read({ signal: timeout() }), 'the submitter ends the stream instead of answering')
    assert.ok(errors.slice(before).some((m) => /malformed channel request/.test(m)))
    const wire = new MarketWire(executor)
    assert.equal(
      dec(await request(wire, submitter.peerId, BID_PROTOCOL, enc('ok'), 128, timeout())),
      'bid reply to ok',
    )
    wire.stop()
  })

  it('sends a request in flight again when its connection drops: it is answered over a new one', async () => {
    const wire = new MarketWire(executor)
    await request(wire, submitter.peerId, BID_PROTOCOL, enc('warm'), 128, timeout())
    const before = executor.getConnections(submitter.peerId)[0]
    const pending = request(wire, submitter.peerId, BID_PROTOCOL, enc('slow, then cut'), 128, timeout())
    await executor.hangUp(submitter.peerId)
    assert.equal(dec(await pending), 'bid reply to slow, then cut')
    const now = executor.getConnections(submitter.peerId)
    assert.ok(now.length > 0 && !now.includes(before), 'answered over a connection dialled again')
    assert.equal(
      dec(await request(wire, submitter.peerId, BID_PROTOCOL, enc('again'), 128, timeout())),
      'bid reply to again',
    )
    wire.stop()
  })

  it('moves to the connection both ends keep; a request in flight on the other is still answered there', async () => {
    const wire = new MarketWire(executor)
    await executor.hangUp(submitter.peerId)
    // first the connection the rule does not keep, then (a simultaneous dial) the one it keeps
    const kept = keptDirection(executor.peerId, submitter.peerId)
    const executorAddr = executor.getMultiaddrs()[0]
    /** A new connection as the executor sees it, dialled from the side `direction` names. */
    const dial = async (direction: 'inbound' | 'outbound'): Promise<void> => {
      const opened = new Promise<void>((resolve) => {
        const on = (evt: CustomEvent<Connection>): void => {
          if (evt.detail.direction !== direction) return
          executor.removeEventListener('connection:open', on)
          resolve()
        }
        executor.addEventListener('connection:open', on)
      })
      await (direction === 'outbound'
        ? executor.dial(submitterAddr, { force: true })
        : submitter.dial(executorAddr, { force: true }))
      await opened
    }
    await dial(kept === 'outbound' ? 'inbound' : 'outbound')
    const slow = request(wire, submitter.peerId, BID_PROTOCOL, enc('slow on the other'), 128, timeout())
    const otherChannel = (): Connection | undefined =>
      executor.getConnections(submitter.peerId).find((c) => c.direction !== kept)
    await dial(kept)
    assert.equal(executor.getConnections(submitter.peerId).length, 2)
    const quick = await request(wire, submitter.peerId, BID_PROTOCOL, enc('quick'), 128, timeout())
    assert.equal(dec(quick), 'bid reply to quick')
    assert.equal(dec(await slow), 'bid reply to slow on the other', 'the held request was answered')
    const keptConn = executor.getConnections(submitter.peerId).find((c) => c.direction === kept)
    assert.equal(streamsOf(keptConn, CHANNEL_PROTOCOL), 1, 'new requests ride the kept connection')
    // the drained channel closes by itself once its replies are in (both ends closed)
    const leftover = otherChannel()?.streams.filter((s) => s.protocol === CHANNEL_PROTOCOL) ?? []
    await Promise.all(
      leftover.map((s) =>
        s.status === 'open'
          ? new Promise((resolve) => s.addEventListener('close', resolve, { once: true }))
          : undefined,
      ),
    )
    assert.equal(streamsOf(otherChannel(), CHANNEL_PROTOCOL), 0)
    wire.stop()
  })

  it('ends the channels it serves when the market stops; requests then fail instead of hanging', async () => {
    const wire = new MarketWire(executor)
    await request(wire, submitter.peerId, BID_PROTOCOL, enc('before stop'), 128, timeout())
    serving.abort()
    await assert.rejects(request(wire, submitter.peerId, BID_PROTOCOL, enc('after stop'), 128, timeout()))
    wire.stop()
  })
})
