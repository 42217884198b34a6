/**
 * The market's request/response traffic: bids (executor → submitter) and claims (executor →
 * submitter), one length-prefixed protobuf each way.
 *
 * ```
 * /plusone/market/1.0.0  one long-lived stream per peer pair and direction, many requests:
 *                        varint(len) [kind u8][id u32 BE][method u8][body]   (kind 0 request,
 *                        1 reply, 2 error with a UTF-8 reason; method 0 bid, 1 result,
 *                        2 invite; an unknown method is answered with an error)
 * /plusone/bid/1.0.0     one stream per request (peers without the channel):
 *                        executor → submitter: varint(len) Bid          (≤ 256 bytes)
 *                        submitter → executor: varint(len) BidReply     (≤ MAX_REPLY_BYTES)
 * /plusone/result/1.0.0  executor → submitter: varint(len) SignedClaim  (≤ MAX_CLAIM_BYTES)
 *                        submitter → executor: varint(len) ClaimAck     (≤ MAX_REPLY_BYTES)
 * ```
 *
 * Why a channel: every new stream costs a yamux open and close, a multistream-select exchange
 * and, in libp2p, a peer-store write on both ends (docs/PERFORMANCE.md); a task at k=3 made up
 * to a dozen of them. On the channel a request is one frame each way. Replies carry the
 * request's id, so slow answers (a bid held while its window is open) never block others.
 * A peer that does not speak the channel is asked over one stream per request, as before.
 * What one peer may ask is bounded on both paths together (peer-limits.ts).
 *
 * Nothing in flight is lost when a connection closes (a redundant one from a simultaneous dial,
 * a relayed one after an upgrade, a relay going away): a request whose connection closed before
 * its reply is sent again, on another open connection or a new dial, up to
 * {@link REQUEST_ATTEMPTS} times. That is safe because every request is idempotent on the
 * receiver: a bid sent again replaces the held one or gets its award again (task-machine.ts), a
 * claim sent again is acknowledged as the first was, an invitation sent again is a duplicate
 * announcement. New requests go on the connection both ends would keep (network/connections.ts);
 * a channel on another connection takes no more requests, and is closed once its replies are in.
 * The responder answers every request it read before the requester closed.
 */
import type { Connection, Libp2p, Logger, PeerId, Stream } from '@libp2p/interface'
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils'
import { INVITE_PROTOCOL } from './candidates.js'
import { preferredConnection } from '../network/index.js'
import { MarketChannelError, MarketPathClosedError } from './errors.js'
import type { PeerLimits } from './peer-limits.js'
import { MAX_ANNOUNCEMENT_BYTES, MAX_CLAIM_BYTES } from './spec.js'

export const BID_PROTOCOL = '/plusone/bid/1.0.0'
export const RESULT_PROTOCOL = '/plusone/result/1.0.0'
export const CHANNEL_PROTOCOL = '/plusone/market/1.0.0'
export const MAX_BID_BYTES = 256
/** Largest input sent inline with an award (saves the executor a blob fetch). */
export const INLINE_INPUT_BYTES = 8 * 1024
export const MAX_REPLY_BYTES = INLINE_INPUT_BYTES + 512
/**
 * Streams per connection and direction for each market protocol. An executor has at most
 * `maxTasks` bids and claims open to one submitter; 64 leaves room without letting one peer
 * hold hundreds of half-open streams.
 */
export const MAX_MARKET_STREAMS = 64
/** Requests one channel carries at once, each way; more are answered with an error. */
export const MAX_CHANNEL_REQUESTS = 256
/** Channel streams per connection and direction (one is used; spares cover a reconnect). */
export const MAX_CHANNEL_STREAMS = 4
/**
 * Times a request is sent in all when the connection it travelled on closes before its reply
 * (each time on another open connection, or a new dial).
 */
export const REQUEST_ATTEMPTS = 3
/** How long opening a channel may take before its requests fail. */
export const CHANNEL_OPEN_TIMEOUT_MS = 10_000
/**
 * Largest request frame the channel reads, whatever methods are handled at the moment (each
 * method's own limit is checked after): an announcement (invite) is the largest request.
 */
export const MAX_CHANNEL_REQUEST_BYTES = Math.max(MAX_ANNOUNCEMENT_BYTES, MAX_CLAIM_BYTES, MAX_BID_BYTES)
/** Peers remembered as not speaking the channel (asked over one stream per request). */
const MAX_LEGACY_PEERS = 1024
const LEGACY_RETRY_MS = 10 * 60 * 1000
const HEADER_BYTES = 6
const MAX_REASON_BYTES = 256
const KIND_REQUEST = 0
const KIND_REPLY = 1
const KIND_ERROR = 2
/** Method numbers on the channel, by per-stream protocol. */
export const CHANNEL_METHODS = [BID_PROTOCOL, RESULT_PROTOCOL, INVITE_PROTOCOL] as const
const METHODS = CHANNEL_METHODS
export type ChannelMethod = (typeof CHANNEL_METHODS)[number]

/** Opens streams: on an open connection when there is one (cheaper), else by dialling. */
export type Dialer = Pick<Libp2p, 'dialProtocol'> &
  Pick<Libp2p, 'peerId'> &
  Partial<Pick<Libp2p, 'getConnections'>> & {
    /** A dialer that multiplexes requests (a {@link MarketWire}) answers them itself. */
    request?: MarketWire['request']
  }

/**
 * Sends one request and reads its reply: over the dialer's channel if it has one, else a fresh
 * stream. Sent again (at most {@link REQUEST_ATTEMPTS} times in all) while the connection it
 * travelled on closes before the reply: see the file's comment for why that is safe.
 */
export async function request(
  dialer: Dialer,
  peer: PeerId,
  protocol: string,
  body: Uint8Array,
  maxReplyBytes: number,
  signal: AbortSignal,
): Promise<Uint8Array> {
  for (let attempt = 1; ; attempt++) {
    try {
      if (dialer.request != null) return await dialer.request(peer, protocol, body, maxReplyBytes, signal)
      return await requestOnStream(dialer, peer, protocol, body, maxReplyBytes, signal)
    } catch (err) {
      if (!(err instanceof MarketPathClosedError) || signal.aborted || attempt >= REQUEST_ATTEMPTS) throw err
    }
  }
}

/** A stream and the connection it runs on (undefined when libp2p's dial did not say). */
interface Opened {
  stream: Stream
  connection?: Connection
}

/**
 * Opens a stream on the connection both ends would keep (a direct one when there is one; a
 * relayed one, a home behind NAT, will do), or by dialling when none is open.
 */
async function openStream(
  dialer: Dialer,
  peer: PeerId,
  protocol: string,
  signal: AbortSignal,
): Promise<Opened> {
  // negotiateFully: false sends the protocol id with the first message instead of waiting a
  // round trip for the remote to accept it (a protocol the remote lacks fails the first read)
  const options = { signal, runOnLimitedConnection: true, negotiateFully: false }
  const conns = dialer.getConnections?.(peer) ?? []
  const open = preferredConnection(dialer.peerId, peer, conns)
  if (open != null) {
    try {
      return { stream: await open.newStream(protocol, options), connection: open }
    } catch {
      // closing under us: dial (libp2p picks or opens another connection)
    }
  }
  const stream = await dialer.dialProtocol(peer, protocol, options)
  const connection = dialer.getConnections?.(peer).find((c) => c.streams.includes(stream))
  return { stream, connection }
}

/**
 * Whether a request's failure means its path went away before the reply (the connection closed,
 * or the stream ended without a reset): then it is worth sending again elsewhere. A reset stream
 * on an open connection is the peer refusing (limits, a failed handler) and is not retried.
 */
function pathClosed(err: Error, connection: Connection | undefined): boolean {
  if (err instanceof MarketPathClosedError) return true
  if (connection != null && connection.status !== 'open') return true
  return (
    err.name === 'UnexpectedEOFError' ||
    err.name === 'ConnectionClosedError' ||
    err.name === 'MuxerClosedError'
  )
}

function pathClosedError(peer: PeerId | string, err: Error): MarketPathClosedError {
  return new MarketPathClosedError(
    `the connection to ${peer.toString()} closed before the reply (${err.message})`,
    { cause: err },
  )
}

/** One request and its reply on a stream of their own. */
export async function requestOnStream(
  dialer: Dialer,
  peer: PeerId,
  protocol: string,
  body: Uint8Array,
  maxReplyBytes: number,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const { stream, connection } = await openStream(dialer, peer, protocol, signal)
  try {
    const lp = lpStream(stream, { maxDataLength: maxReplyBytes })
    await lp.write(body, { signal })
    const reply = await lp.read({ signal })
    await stream.close({ signal }).catch(() => {})
    return reply.subarray()
  } catch (err) {
    stream.abort(err as Error)
    if (!signal.aborted && pathClosed(err as Error, connection)) throw pathClosedError(peer, err as Error)
    throw err
  }
}

/** What answers one kind of request: bounded, with a deadline. */
export interface Responder {
  maxRequestBytes: number
  timeoutMs: number
  respond: (body: Uint8Array, connection: Connection, signal: AbortSignal) => Promise<Uint8Array>
}

/**
 * A per-stream handler that reads one bounded request and answers with the bytes `respond`
 * returns. With `limits`, a peer over its limits has the stream reset before it is read.
 */
export function responder(
  maxRequestBytes: number,
  timeoutMs: number,
  respond: Responder['respond'],
  onError: (err: Error) => void,
  limits?: PeerLimits,
): (stream: Stream, connection: Connection) => Promise<void> {
  return async (stream, connection) => {
    const peer = connection.remotePeer.toString()
    const refused = limits?.admit(peer)
    if (refused != null) {
      stream.abort(new MarketChannelError(`refused a request from ${peer}: ${refused}`))
      return
    }
    const signal = AbortSignal.timeout(timeoutMs)
    try {
      const lp = lpStream(stream, { maxDataLength: maxRequestBytes })
      const body = await lp.read({ signal })
      const reply = await respond(body.subarray(), connection, signal)
      await lp.write(reply, { signal })
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      onError(err as Error)
      stream.abort(err as Error)
    } finally {
      if (limits != null) limits.release(peer)
    }
  }
}

function frame(kind: number, id: number, method: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + body.byteLength)
  const view = new DataView(out.buffer)
  out[0] = kind
  view.setUint32(1, id)
  out[5] = method
  out.set(body, HEADER_BYTES)
  return out
}

/**
 * Frames queued in one turn of the event loop go out together, in one write: one yamux frame,
 * one noise message and one socket write instead of one each (a job's announcements, an
 * executor's bids and a submitter's awards come in bursts). Writes are serial and in order.
 */
class FrameQueue {
  #frames: Uint8Array[] = []
  #writing = 0
  #scheduled = false
  #busy = false
  #waiters: Array<() => void> = []

  constructor(
    private readonly lp: LengthPrefixedStream,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Frames queued or being written. */
  get unsent(): number {
    return this.#frames.length + this.#writing
  }

  /** Resolves once every frame queued so far is written (or the stream failed). */
  idle(): Promise<void> {
    if (this.unsent === 0 && !this.#busy) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  push(f: Uint8Array): void {
    this.#frames.push(f)
    if (this.#scheduled || this.#busy) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      void this.#flush()
    })
  }

  async #flush(): Promise<void> {
    if (this.#busy) return
    this.#busy = true
    try {
      while (this.#frames.length > 0) {
        const batch = this.#frames
        this.#frames = []
        this.#writing = batch.length
        await this.lp.writeV(batch)
        this.#writing = 0
      }
    } catch (err) {
      this.#frames = []
      this.onError(err as Error)
    } finally {
      this.#writing = 0
      this.#busy = false
      for (const w of this.#waiters.splice(0)) w()
    }
  }
}

interface Frame {
  kind: number
  id: number
  method: number
  body: Uint8Array
}

function parse(bytes: Uint8Array): Frame {
  if (bytes.byteLength < HEADER_BYTES) throw new MarketChannelError('channel frame shorter than its header')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { kind: bytes[0], id: view.getUint32(1), method: bytes[5], body: bytes.subarray(HEADER_BYTES) }
}

/**
 * The channel handler: answers requests as they come, several at once (at most
 * MAX_CHANNEL_REQUESTS per channel, and what `limits` allows the peer over all its channels and
 * streams), each bounded by its method's size and deadline. `responders` is read per request, so
 * methods can be handled and unhandled while channels are open; a method with no responder is
 * refused. A malformed frame closes the channel; a request that fails is answered with an error.
 */
export function channelResponder(
  responders: Partial<Record<ChannelMethod, Responder>>,
  onError: (err: Error) => void,
  /** Aborting it ends every channel this handler serves (the market stopped). */
  signal: AbortSignal,
  limits?: PeerLimits,
): (stream: Stream, connection: Connection) => Promise<void> {
  return async (stream, connection) => {
    const stop = (): void => stream.abort(new MarketChannelError('the market stopped'))
    if (signal.aborted) return stop()
    signal.addEventListener('abort', stop, { once: true })
    stream.addEventListener('close', () => signal.removeEventListener('abort', stop), { once: true })
    const peer = connection.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: MAX_CHANNEL_REQUEST_BYTES + HEADER_BYTES })
    let inflight = 0
    let drained: (() => void) | undefined
    const answered = (): Promise<void> =>
      inflight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve))
    const out = new FrameQueue(lp, (err) => stream.abort(err))
    const answer = (id: number, method: number, kind: number, body: Uint8Array): void => {
      // replies not yet taken by the transport: a peer that asks without reading is cut off
      if (out.unsent >= 2 * MAX_CHANNEL_REQUESTS) {
        stream.abort(new MarketChannelError('the peer does not read its replies'))
        return
      }
      out.push(frame(kind, id, method, body))
    }
    const refuse = (id: number, method: number, reason: string): void =>
      answer(id, method, KIND_ERROR, new TextEncoder().encode(reason.slice(0, MAX_REASON_BYTES)))
    try {
      for (;;) {
        const f = parse((await lp.read()).subarray())
        if (f.kind !== KIND_REQUEST) throw new MarketChannelError('malformed channel request')
        const r = responders[METHODS[f.method]]
        if (r == null) {
          refuse(f.id, f.method, `unknown method ${f.method}`)
          continue
        }
        if (f.body.byteLength > r.maxRequestBytes) {
          refuse(f.id, f.method, `request over ${r.maxRequestBytes} bytes`)
          continue
        }
        if (inflight >= MAX_CHANNEL_REQUESTS) {
          refuse(f.id, f.method, 'too many requests in flight')
          continue
        }
        const refused = limits?.admit(peer)
        if (refused != null) {
          refuse(f.id, f.method, refused)
          continue
        }
        inflight++
        const settle = (): void => {
          inflight--
          limits?.release(peer)
          if (inflight === 0) drained?.()
        }
        // copied: keep only the body, not the whole received buffer it may be a view of
        const body = f.body.slice()
        r.respond(body, connection, AbortSignal.timeout(r.timeoutMs)).then(
          (reply) => {
            settle()
            answer(f.id, f.method, KIND_REPLY, reply)
          },
          (err: Error) => {
            settle()
            onError(err)
            refuse(f.id, f.method, err.message)
          },
        )
      }
    } catch (err) {
      if ((err as Error).name !== 'UnexpectedEOFError' || stream.status !== 'open') {
        if ((err as Error).name !== 'UnexpectedEOFError') onError(err as Error)
        stream.abort(err as Error)
        return
      }
      // the requester closed its end (its connection is being retired, or it stopped): answer
      // what it asked before closing, then close ours. Each answer is bounded by its deadline.
      await answered()
      await out.idle()
      await stream.close().catch((e: Error) => stream.abort(e))
    }
  }
}

interface Pending {
  resolve: (reply: Uint8Array) => void
  reject: (err: Error) => void
  maxReplyBytes: number
  /** Replays the request on a stream of its own if the channel turns out unsupported. */
  fallback: () => void
}

/** One requester-side channel to a peer: a stream, the requests awaiting replies, a read loop. */
class Channel {
  readonly pending = new Map<number, Pending>()
  private nextId = 1
  private answered = false
  private failed = false
  private draining = false
  private readonly out: FrameQueue

  constructor(
    private readonly stream: Stream,
    private readonly lp: LengthPrefixedStream,
    /** The connection it runs on, when known. */
    readonly connection: Connection | undefined,
    private readonly peer: PeerId,
    private readonly onClosed: (channel: Channel, unsupported: boolean) => void,
  ) {
    this.out = new FrameQueue(lp, (err) => this.fail(err))
    void this.readLoop()
  }

  /** Takes new requests: not failed, not draining, and its stream still writable. */
  get open(): boolean {
    return (
      !this.failed &&
      !this.draining &&
      this.stream.status === 'open' &&
      this.stream.writeStatus === 'writable'
    )
  }

  /**
   * Takes no more requests; closes its end once the requests sent so far are written. The peer
   * answers those and closes its end; the read loop takes the replies until then.
   */
  drain(): void {
    if (this.draining || this.failed) return
    this.draining = true
    void this.out.idle().then(() => this.stream.close().catch((err: Error) => this.fail(err)))
  }

  send(method: number, body: Uint8Array, pending: Pending, signal: AbortSignal): void {
    if (this.pending.size >= MAX_CHANNEL_REQUESTS) {
      pending.reject(new MarketChannelError('too many requests in flight to this peer'))
      return
    }
    if (signal.aborted) {
      pending.reject(signal.reason as Error)
      return
    }
    if (!this.open) {
      // drained or broken between being chosen and this send: request() sends it elsewhere
      pending.reject(pathClosedError(this.peer, new MarketChannelError('the channel closed')))
      return
    }
    const id = this.nextId
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1
    const onAbort = (): void => {
      if (this.pending.delete(id)) pending.reject(signal.reason as Error)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    const done = (): void => signal.removeEventListener('abort', onAbort)
    this.pending.set(id, {
      maxReplyBytes: pending.maxReplyBytes,
      resolve: (r) => {
        done()
        pending.resolve(r)
      },
      reject: (e) => {
        done()
        pending.reject(e)
      },
      fallback: () => {
        done()
        pending.fallback()
      },
    })
    this.out.push(frame(KIND_REQUEST, id, method, body))
  }

  private async readLoop(): Promise<void> {
    try {
      for (;;) {
        if (this.draining && this.pending.size === 0 && this.out.unsent === 0) {
          // every reply is in: the peer's end closes after ours
          this.failed = true
          this.onClosed(this, false)
          return
        }
        const f = parse((await this.lp.read()).subarray())
        this.answered = true
        const p = this.pending.get(f.id)
        if (p == null) continue // abandoned (aborted) request
        this.pending.delete(f.id)
        if (f.kind === KIND_REPLY) {
          if (f.body.byteLength > p.maxReplyBytes)
            p.reject(new MarketChannelError(`reply over ${p.maxReplyBytes} bytes`))
          else p.resolve(f.body.slice())
        } else if (f.kind === KIND_ERROR) {
          p.reject(
            new MarketChannelError(`the peer refused the request: ${new TextDecoder().decode(f.body)}`),
          )
        } else throw new MarketChannelError('malformed channel reply')
      }
    } catch (err) {
      if (this.draining && this.pending.size === 0 && (err as Error).name === 'UnexpectedEOFError') {
        // drained: the peer closed its end after ours, nothing was left to answer
        this.failed = true
        this.onClosed(this, false)
        return
      }
      this.fail(err as Error)
    }
  }

  /**
   * Ends the channel: requests not yet answered fail, or, when the peer does not speak the
   * channel (an older plusone), are asked again on a stream each.
   */
  fail(err: Error): void {
    if (this.failed) return
    this.failed = true
    const closed = pathClosed(err, this.connection) || this.draining
    this.stream.abort(err)
    const unsupported = !this.answered && err.name === 'UnsupportedProtocolError'
    this.onClosed(this, unsupported)
    // requests whose path went away are sent again by request() (see the file's comment)
    const reason = closed ? pathClosedError(this.peer, err) : err
    for (const p of this.pending.values()) {
      if (unsupported) p.fallback()
      else p.reject(reason)
    }
    this.pending.clear()
  }
}

/**
 * The requester side of the market channel, one per node: a channel per peer, opened on first
 * use and reopened after it breaks. Pass it where a {@link Dialer} is expected and
 * {@link request} uses it.
 */
export class MarketWire implements Dialer {
  private readonly channels = new Map<string, Channel | Promise<Channel>>()
  /** Peers that do not speak the channel, until when. */
  private readonly legacy = new Map<string, number>()
  private stopped = false

  constructor(
    private readonly dialer: Dialer,
    private readonly log?: Logger,
  ) {}

  get dialProtocol(): Libp2p['dialProtocol'] {
    return this.dialer.dialProtocol.bind(this.dialer)
  }

  get getConnections(): Libp2p['getConnections'] | undefined {
    return this.dialer.getConnections?.bind(this.dialer)
  }

  get peerId(): PeerId {
    return this.dialer.peerId
  }

  request = (
    peer: PeerId,
    protocol: string,
    body: Uint8Array,
    maxReplyBytes: number,
    signal: AbortSignal,
  ): Promise<Uint8Array> => {
    const method = METHODS.indexOf(protocol as ChannelMethod)
    const key = peer.toString()
    const perStream = (): Promise<Uint8Array> =>
      requestOnStream(this.dialer, peer, protocol, body, maxReplyBytes, signal)
    if (method < 0 || this.stopped || (this.legacy.get(key) ?? 0) > Date.now()) return perStream()
    signal.throwIfAborted()
    return new Promise<Uint8Array>((resolve, reject) => {
      const fallback = (): void => {
        perStream().then(resolve, reject)
      }
      this.channel(peer).then(
        (ch) => ch.send(method, body, { resolve, reject, maxReplyBytes, fallback }, signal),
        (err: Error) => {
          this.log?.('opening a market channel to %p failed: %s', peer, err.message)
          fallback()
        },
      )
    })
  }

  /** Uses channels again after {@link stop}. */
  start(): void {
    this.stopped = false
  }

  /** Closes every channel; later requests use one stream each until {@link start}. */
  stop(): void {
    this.stopped = true
    for (const c of this.channels.values()) {
      if (c instanceof Channel) c.fail(new MarketChannelError('the market stopped'))
    }
    this.channels.clear()
  }

  private channel(peer: PeerId): Promise<Channel> {
    const key = peer.toString()
    const found = this.channels.get(key)
    if (found instanceof Promise) return found
    if (found instanceof Channel && found.open) {
      // another connection is now the one both ends keep (a simultaneous dial, an upgrade from a
      // relay): this channel drains and a new one opens there
      const conns = this.dialer.getConnections?.(peer) ?? []
      const preferred = preferredConnection(this.dialer.peerId, peer, conns)
      if (found.connection == null || preferred == null || preferred === found.connection)
        return Promise.resolve(found)
      found.drain()
    }
    const opening = openStream(
      this.dialer,
      peer,
      CHANNEL_PROTOCOL,
      AbortSignal.timeout(CHANNEL_OPEN_TIMEOUT_MS),
    ).then(
      ({ stream, connection }) => {
        const lp = lpStream(stream, { maxDataLength: MAX_REPLY_BYTES + HEADER_BYTES })
        const channel = new Channel(stream, lp, connection, peer, (closed, unsupported) => {
          if (this.channels.get(key) === closed) this.channels.delete(key)
          if (unsupported) this.markLegacy(key)
        })
        if (this.stopped) channel.fail(new MarketChannelError('the market stopped'))
        else this.channels.set(key, channel)
        return channel
      },
      (err: Error) => {
        if (this.channels.get(key) === opening) this.channels.delete(key)
        throw err
      },
    )
    this.channels.set(key, opening)
    return opening
  }

  private markLegacy(key: string): void {
    this.legacy.set(key, Date.now() + LEGACY_RETRY_MS)
    if (this.legacy.size > MAX_LEGACY_PEERS) {
      const oldest = this.legacy.keys().next().value
      if (oldest !== undefined) this.legacy.delete(oldest)
    }
  }
}
