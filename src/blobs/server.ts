import { anySignal } from 'any-signal'
import type { Logger, Stream, StreamCloseEvent } from '@libp2p/interface'
import { withTimeout } from '../abort.js'
import { BlobRequest, BlobResponse } from '../pb/blob.js'
import { type BlobCid, parseBlobCid } from './cid.js'
import { FrameReader, lengthPrefixed, varintBytes, writeVarint } from './frames.js'
import type { BlobFile, BlobStore } from './store.js'

/** Largest request frame a holder reads. */
export const MAX_REQUEST_BYTES = 256
/** The end-of-data marker: a frame of length zero. */
const END_MARKER = new Uint8Array([0])

/**
 * Testing aid: called with every chunk a holder is about to send. It may change the chunk in
 * place (flip a byte to play a corrupt holder) or return a promise that holds the chunk back
 * until it settles (play a stalled holder). Never set it in production.
 */
export type ServeHook = (event: {
  cid: BlobCid
  position: number
  chunk: Uint8Array
}) => undefined | Promise<void>

export interface ServeContext {
  store: BlobStore
  log: Logger
  chunkBytes: number
  requestTimeoutMs: number
  idleTimeoutMs: number
  serveHook?: ServeHook
  /** Aborted when the service stops. */
  shutdown: AbortSignal
  /** Called with the bytes of each data frame sent. */
  onSent(bytes: number): void
  /**
   * Where frame buffers come from (made for frames of `chunkBytes`), and the transport whose
   * write buffer tells when they can go back. Undefined: a new buffer per frame (see
   * {@link FrameBuffers}).
   */
  frames?: { pool: FrameBuffers; transport: WriteBuffered }
}

/**
 * Frame buffers a holder reuses instead of allocating one per frame: a fresh megabyte per frame
 * cost the holder more CPU than encrypting it (page faults, and the garbage collections that
 * external memory sets off), docs/PERFORMANCE.md.
 *
 * A buffer goes back only once nothing can read it any more ({@link SentFrames}): once its
 * bytes have left the stream's write buffer, passed through yamux into noise, and noise has
 * encrypted them into buffers of its own. Only on noise + yamux connections, whose code this
 * was read from ({@link sendTransport}). A buffer reused too soon would send wrong bytes, which
 * the fetcher's hash check refuses; test/blobs/holder.test.ts serves several fetches at once
 * through one congested connection with every byte checked.
 */
export class FrameBuffers {
  private readonly free: Buffer[] = []

  /** Bytes of each buffer: the largest frame with its length prefix. */
  readonly bytes: number

  constructor(
    /** The largest frame's data bytes (the serves' `chunkBytes`). */
    chunkBytes: number,
    /** Buffers kept for reuse at most (the rest are left to the garbage collector). */
    private readonly maxFree: number,
  ) {
    this.bytes = varintBytes(chunkBytes) + chunkBytes
  }

  /** Buffers allocated so far (the rest were reused). */
  allocated = 0

  take(): Buffer {
    const reused = this.free.pop()
    if (reused != null) return reused
    this.allocated++
    // Every byte of a frame is overwritten (prefix + file bytes) before it leaves.
    return Buffer.allocUnsafeSlow(this.bytes)
  }

  give(buffers: Buffer[]): void {
    for (const b of buffers) if (this.free.length < this.maxFree) this.free.push(b)
  }
}

/** A stream's transport below the muxer: its bytes waiting to be encrypted. */
export interface WriteBuffered {
  readonly writeBufferLength: number
}

/**
 * The noise stream under a noise + yamux connection's muxer, where a stream's bytes wait while
 * the socket is full; undefined for other connections (their sends are not known to copy).
 * This reads libp2p's Connection internals (`muxer.maConn`): if they change, frames are
 * reused less often, never sooner.
 */
export function sendTransport(connection: {
  encryption?: string
  multiplexer?: string
}): WriteBuffered | undefined {
  if (connection.encryption !== '/noise' || connection.multiplexer !== '/yamux/1.0.0') return undefined
  const maConn = (connection as { muxer?: { maConn?: Partial<WriteBuffered> } }).muxer?.maConn
  return typeof maConn?.writeBufferLength === 'number' ? (maConn as WriteBuffered) : undefined
}

/** The frames of one serve that the transport may still read, oldest first. */
export class SentFrames {
  private frames: Array<{ buffer: Buffer; end: number }> = []
  private given = 0

  constructor(
    private readonly stream: Pick<Stream, 'writeBufferLength'>,
    private readonly pool: FrameBuffers,
    private readonly transport: WriteBuffered,
  ) {}

  /** `buffer` holds `bytes` just given to `stream.send`. */
  sent(buffer: Buffer, bytes: number): void {
    this.given += bytes
    this.frames.push({ buffer, end: this.given })
    this.release()
  }

  /** Gives back the frames nothing reads any more (see {@link FrameBuffers}). */
  release(): void {
    // The bytes that left the stream's own buffer went through the muxer to noise. What noise
    // has not encrypted yet waits in its write buffer: the last bytes it was handed (it
    // encrypts all it holds once the socket drains), so at most that many of ours.
    const encrypted = this.given - this.stream.writeBufferLength - this.transport.writeBufferLength
    let n = 0
    while (n < this.frames.length && this.frames[n]!.end <= encrypted) n++
    if (n > 0) this.pool.give(this.frames.splice(0, n).map((f) => f.buffer))
  }
}

export function sendStatus(stream: Stream, status: BlobResponse.Status, size = 0): void {
  stream.send(lengthPrefixed(BlobResponse.encode({ status, size })))
}

/** Serves one request on `stream`; never throws (failures abort the stream). */
export async function serveBlob(stream: Stream, ctx: ServeContext): Promise<void> {
  let file: BlobFile | undefined
  let next: Promise<{ buffer: Buffer; frame: Buffer; prefix: number }> | undefined
  // not AbortSignal.any: on Node 20 it lets the timeout be collected before it fires, and a peer
  // that never sends its request would hold a serve slot for ever
  const requestSignal = anySignal([ctx.shutdown, AbortSignal.timeout(ctx.requestTimeoutMs)])
  try {
    const request = await readRequest(stream, requestSignal)
    let cid: BlobCid
    let offset: number
    try {
      const decoded = BlobRequest.decode(request)
      cid = parseBlobCid(decoded.cid)
      offset = decoded.offset
    } catch (err) {
      ctx.log('bad request: %e', err)
      sendStatus(stream, BlobResponse.Status.BAD_REQUEST)
      await stream.close({ signal: requestSignal })
      return
    }

    try {
      file = await ctx.store.openFile(cid)
    } catch (err) {
      const notFound = (err as Error).name === 'BlobNotFoundError'
      if (!notFound) ctx.log.error('cannot open blob %s: %e', cid, err)
      sendStatus(stream, notFound ? BlobResponse.Status.NOT_FOUND : BlobResponse.Status.ERROR)
      await stream.close({ signal: requestSignal })
      return
    }
    const size = file.size
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > size) {
      sendStatus(stream, BlobResponse.Status.BAD_REQUEST)
      await stream.close({ signal: requestSignal })
      return
    }
    sendStatus(stream, BlobResponse.Status.OK, size)

    const open = file
    const pool = ctx.frames?.pool
    const readFrame = async (
      position: number,
    ): Promise<{ buffer: Buffer; frame: Buffer; prefix: number }> => {
      const length = Math.min(ctx.chunkBytes, size - position)
      const prefix = varintBytes(length)
      // Every byte of the frame is overwritten below (prefix + file bytes) before it leaves.
      const buffer = pool?.take() ?? Buffer.allocUnsafeSlow(prefix + length)
      const frame = buffer.subarray(0, prefix + length)
      writeVarint(length, frame, 0)
      let got = 0
      while (got < length) {
        const n = await open.read(frame, prefix + got, length - got, position + got)
        if (n === 0) throw new Error(`blob ${cid} shrank while being served`)
        got += n
      }
      return { buffer, frame, prefix }
    }

    const sent =
      ctx.frames != null ? new SentFrames(stream, ctx.frames.pool, ctx.frames.transport) : undefined
    let position = offset
    next = position < size ? readFrame(position) : undefined
    while (next != null) {
      // Awaited below or in `finally`; this only keeps a failed read-ahead from being "unhandled".
      next.catch(() => {})
      const { buffer, frame, prefix } = await next
      const chunk = frame.subarray(prefix)
      const held = ctx.serveHook?.({ cid, position, chunk })
      if (held != null) await held
      position += chunk.byteLength
      // Read the next chunk from disk while this one goes out.
      next = position < size ? readFrame(position) : undefined
      stream.send(frame)
      sent?.sent(buffer, frame.byteLength)
      // Wait until less than a frame is queued. A stream's 'drain' also comes when the socket
      // drains for another stream, or a window update lets only part of the queue out: going on
      // then would queue the whole blob here while the fetcher pauses for its disk.
      while (stream.writableNeedsDrain && stream.writeBufferLength >= ctx.chunkBytes) {
        await withTimeout(ctx.shutdown, ctx.idleTimeoutMs, (signal) => nextDrain(stream, signal))
        sent?.release()
      }
      ctx.onSent(chunk.byteLength)
    }
    stream.send(END_MARKER)
    await withTimeout(ctx.shutdown, ctx.idleTimeoutMs, (signal) => stream.close({ signal }))
  } catch (err) {
    ctx.log('serving failed: %e', err)
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  } finally {
    requestSignal.clear()
    if (next != null) await next.catch(() => {})
    await file?.close().catch(() => {})
  }
}

/**
 * Resolves at the stream's next 'drain', rejects if it closes first or `signal` aborts. Not
 * `stream.onDrain()`: in @libp2p/utils 7.4 its promise is made once and never renewed, so after
 * a stream's first drain it resolves at once even while the stream still needs draining (a
 * holder waiting on it queued whole blobs in the stream's memory while the fetcher paused).
 */
async function nextDrain(stream: Stream, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const settle = (err?: Error): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal.removeEventListener('abort', onAbort)
      if (err != null) reject(err)
      else resolve()
    }
    const onDrain = (): void => settle()
    const onClose = (evt: Event): void =>
      settle((evt as StreamCloseEvent).error ?? new Error('the stream closed while sending'))
    const onAbort = (): void => settle(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal.addEventListener('abort', onAbort)
  })
}

/**
 * Reads the one length-prefixed request frame, bounded by {@link MAX_REQUEST_BYTES} and by
 * `signal`; a malformed or oversize frame or an early end throws (the caller aborts).
 */
async function readRequest(stream: Stream, signal: AbortSignal): Promise<Uint8Array> {
  signal.throwIfAborted()
  const onAbort = (): void => {
    stream.abort(signal.reason instanceof Error ? signal.reason : new Error('request timed out'))
  }
  signal.addEventListener('abort', onAbort, { once: true })
  const reader = new FrameReader(stream)
  try {
    const length = await reader.readLength(MAX_REQUEST_BYTES)
    if (length === undefined) throw new Error('stream closed before a request')
    return await reader.readExact(length)
  } finally {
    signal.removeEventListener('abort', onAbort)
    await reader.close().catch(() => {})
  }
}
