import { anySignal } from 'any-signal'
import type { Logger, Stream } from '@libp2p/interface'
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
}

export function sendStatus(stream: Stream, status: BlobResponse.Status, size = 0): void {
  stream.send(lengthPrefixed(BlobResponse.encode({ status, size })))
}

/** Runs `fn` with a signal that aborts after the idle timeout or on shutdown. */
async function idle<T>(ctx: ServeContext, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = anySignal([ctx.shutdown, AbortSignal.timeout(ctx.idleTimeoutMs)])
  try {
    return await fn(signal)
  } finally {
    signal.clear()
  }
}

/** Serves one request on `stream`; never throws (failures abort the stream). */
export async function serveBlob(stream: Stream, ctx: ServeContext): Promise<void> {
  let file: BlobFile | undefined
  let next: Promise<{ frame: Uint8Array; prefix: number }> | undefined
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
    const readFrame = async (position: number): Promise<{ frame: Uint8Array; prefix: number }> => {
      const length = Math.min(ctx.chunkBytes, size - position)
      const prefix = varintBytes(length)
      // Every byte is overwritten below (prefix + file bytes) before the frame leaves.
      const frame = Buffer.allocUnsafeSlow(prefix + length)
      writeVarint(length, frame, 0)
      let got = 0
      while (got < length) {
        const n = await open.read(frame, prefix + got, length - got, position + got)
        if (n === 0) throw new Error(`blob ${cid} shrank while being served`)
        got += n
      }
      return { frame, prefix }
    }

    let position = offset
    next = position < size ? readFrame(position) : undefined
    while (next != null) {
      // Awaited below or in `finally`; this only keeps a failed read-ahead from being "unhandled".
      next.catch(() => {})
      const { frame, prefix } = await next
      const chunk = frame.subarray(prefix)
      const held = ctx.serveHook?.({ cid, position, chunk })
      if (held != null) await held
      position += chunk.byteLength
      // Read the next chunk from disk while this one goes out.
      next = position < size ? readFrame(position) : undefined
      if (!stream.send(frame)) await idle(ctx, (signal) => stream.onDrain({ signal }))
      ctx.onSent(chunk.byteLength)
    }
    stream.send(END_MARKER)
    await idle(ctx, (signal) => stream.close({ signal }))
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
