import type { Libp2p, Logger, PeerId, Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { BlobRequest, BlobResponse } from '../pb/blob.js'
import type { BlobCid } from './cid.js'
import {
  BlobHolderBusyError,
  BlobHolderTimeoutError,
  BlobNotFoundError,
  BlobProtocolError,
  BlobTooLargeError,
} from './errors.js'
import { FrameError, FrameReader, lengthPrefixed } from './frames.js'
import type { BlobStore } from './store.js'
import type { BlobWriter } from './writer.js'

/** The protocol id. */
export const BLOB_PROTOCOL = '/plusone/blob/1.0.0'
/** Largest response header a requester reads. */
export const MAX_HEADER_BYTES = 64
/** Largest data frame a requester accepts: 1 MiB. */
export const MAX_CHUNK_BYTES = 1024 * 1024
/**
 * Read buffer allowed on a fetch stream while it is paused for the disk: yamux may already
 * have granted the holder up to 16 MiB of window, which arrives after the pause.
 */
const PAUSED_READ_BUFFER_BYTES = 24 * 1024 * 1024

export interface HolderFetchOptions {
  dialer: Pick<Libp2p, 'dialProtocol'>
  store: BlobStore
  log: Logger
  peer: PeerId
  cid: BlobCid
  maxBytes: number
  idleTimeoutMs: number
  signal: AbortSignal
}

/**
 * Fetches a whole blob from one holder into the store. Resolves with its size once the
 * verified bytes are stored; throws a named error otherwise, having stored nothing.
 */
export async function fetchFromHolder(opts: HolderFetchOptions): Promise<number> {
  const { signal, cid } = opts
  // the request goes out with the protocol id, one round trip sooner (see market/wire.ts)
  const stream = await opts.dialer.dialProtocol(opts.peer, BLOB_PROTOCOL, {
    signal,
    runOnLimitedConnection: true,
    negotiateFully: false,
  })
  const idle = setTimeout(() => {
    stream.abort(new BlobHolderTimeoutError(`holder sent nothing for ${opts.idleTimeoutMs} ms`))
  }, opts.idleTimeoutMs)
  const onAbort = (): void => {
    stream.abort(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
  }
  signal.addEventListener('abort', onAbort, { once: true })
  const reader = new FrameReader(arriving(stream, idle))
  let writer: BlobWriter | undefined
  try {
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, PAUSED_READ_BUFFER_BYTES)
    stream.send(lengthPrefixed(BlobRequest.encode({ cid: cid.bytes, offset: 0 })))
    await stream.close({ signal })

    const headerLength = await reader.readLength(MAX_HEADER_BYTES)
    if (headerLength === undefined) throw new BlobProtocolError('holder closed the stream without a header')
    const headerBytes = await reader.readExact(headerLength)
    let header: BlobResponse
    try {
      header = BlobResponse.decode(headerBytes)
    } catch (err) {
      throw new BlobProtocolError(`holder sent a malformed header: ${(err as Error).message}`)
    }
    switch (header.status) {
      case BlobResponse.Status.OK:
        break
      case BlobResponse.Status.NOT_FOUND:
        throw new BlobNotFoundError(`holder ${opts.peer} does not have ${cid}`)
      case BlobResponse.Status.BUSY:
        throw new BlobHolderBusyError(`holder ${opts.peer} is busy`)
      case BlobResponse.Status.BAD_REQUEST:
        throw new BlobProtocolError(`holder ${opts.peer} rejected the request`)
      default:
        throw new BlobProtocolError(`holder ${opts.peer} answered status ${header.status}`)
    }
    const size = header.size
    if (size > opts.maxBytes) {
      throw new BlobTooLargeError(`blob ${cid} is ${size} bytes, limit ${opts.maxBytes}`)
    }

    writer = await opts.store.writer({ maxBytes: size, expectedBytes: size })
    let received = 0
    for (;;) {
      const length = await reader.readLength(MAX_CHUNK_BYTES)
      if (length === undefined) throw new BlobProtocolError('holder ended without an end marker')
      if (length === 0) break
      if (received + length > size) throw new BlobProtocolError(`holder sent more than ${size} bytes`)
      for await (const piece of reader.readBody(length)) writer.write(piece)
      received += length
      if (writer.needsDrain) {
        // A holder that has sent everything and closed leaves the stream 'closing': nothing more
        // comes from the network, and pausing it would throw.
        const pause = stream.readStatus === 'readable'
        if (pause) stream.pause()
        try {
          await writer.drain()
        } finally {
          if (pause && stream.readStatus === 'paused') stream.resume()
        }
      }
    }
    if (received !== size) throw new BlobProtocolError(`holder sent ${received} of ${size} bytes`)
    await writer.commit(cid)
    writer = undefined
    return size
  } catch (err) {
    await writer?.abort()
    if (signal.aborted) throw signal.reason
    const error =
      err instanceof FrameError
        ? new BlobProtocolError(err.message)
        : err instanceof Error
          ? err
          : new Error(String(err))
    stream.abort(error)
    throw error
  } finally {
    clearTimeout(idle)
    signal.removeEventListener('abort', onAbort)
    await reader.close().catch(() => {})
  }
}

/**
 * The stream's data as it arrives, pushing the idle deadline back on every chunk. Not the
 * stream's own iterator: that one ends at 'remoteCloseWrite', so when the holder sends its last
 * bytes and closes while the stream is paused for the disk, the bytes held in the paused
 * stream's buffer never come out of it ("holder ended without an end marker"). Nor at 'end':
 * yamux reports a holder's close before the data of the frame that carries it, so 'end' can
 * come first. This one ends once the holder has closed and the stream's buffer is empty.
 */
async function* arriving(
  stream: Stream,
  idle: NodeJS.Timeout,
): AsyncGenerator<Uint8Array | Iterable<Uint8Array>> {
  const queue: Array<Uint8Array | Iterable<Uint8Array>> = []
  // the holder may have closed before this generator was first pulled
  let closed = stream.remoteWriteStatus === 'closed' || stream.readStatus === 'closed'
  let failure: Error | undefined
  let wake: (() => void) | undefined
  const onMessage = (evt: StreamMessageEvent): void => {
    idle.refresh()
    queue.push(evt.data)
    wake?.()
  }
  const onClosed = (evt: Event): void => {
    closed = true
    failure ??= (evt as StreamCloseEvent).error
    wake?.()
  }
  const events = ['remoteCloseWrite', 'end', 'close'] as const
  stream.addEventListener('message', onMessage)
  for (const e of events) stream.addEventListener(e, onClosed)
  try {
    for (;;) {
      const next = queue.shift()
      if (next !== undefined) {
        yield next
        continue
      }
      if (failure != null) throw failure
      // buffered bytes are on their way: a dispatch is due (or comes with `resume()`)
      if (closed && stream.readBufferLength === 0) return
      await new Promise<void>((resolve) => {
        wake = resolve
      })
      wake = undefined
    }
  } finally {
    stream.removeEventListener('message', onMessage)
    for (const e of events) stream.removeEventListener(e, onClosed)
  }
}
