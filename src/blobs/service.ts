import { setMaxListeners } from 'node:events'
import type {
  ComponentLogger,
  Connection,
  Libp2p,
  Logger,
  PeerId,
  Startable,
  Stream,
} from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { BlobResponse } from '../pb/blob.js'
import { type BlobCid, parseBlobCid } from './cid.js'
import { BLOB_PROTOCOL, fetchFromHolder, MAX_CHUNK_BYTES } from './client.js'
import { BlobFetchError, BlobNotFoundError, BlobTooLargeError } from './errors.js'
import { FrameBuffers, type ServeHook, sendStatus, sendTransport, serveBlob } from './server.js'
import type { BlobStore } from './store.js'

/**
 * Default size of a data frame: 1 MiB, the most a requester accepts. Each frame is one read of
 * the blob file on the libuv pool; 512 KiB frames made twice the reads and hand-offs to it.
 */
export const CHUNK_BYTES = MAX_CHUNK_BYTES
/** Default number of requests a holder serves at once (more are answered BUSY). */
export const MAX_CONCURRENT_SERVES = 32
/**
 * Sent frame buffers a holder keeps for its next frames, shared by its serves: 8 MiB at most
 * with 1 MiB frames (a serve has about three in flight: one queued, one read ahead, one being
 * encrypted).
 */
const FREE_FRAMES = 8
/** Default inbound and outbound blob streams per connection. */
export const MAX_STREAMS_PER_CONNECTION = 16
/** Default time a holder waits for the request after a stream opens. */
export const REQUEST_TIMEOUT_MS = 10_000
/** Default time either side waits for the other to make progress. */
export const IDLE_TIMEOUT_MS = 30_000

export interface BlobServiceComponents {
  /** Where the protocol handler is registered (a libp2p node). */
  registrar: Pick<Libp2p, 'handle' | 'unhandle'>
  /** Opens protocol streams to holders (a libp2p node). */
  dialer: Pick<Libp2p, 'dialProtocol'>
  store: BlobStore
  logger: ComponentLogger
}

export interface BlobServiceInit {
  /** Requests served at once; more are answered BUSY. @default MAX_CONCURRENT_SERVES (32) */
  maxConcurrentServes?: number
  /** Blob streams per connection and direction. @default MAX_STREAMS_PER_CONNECTION (16) */
  maxStreamsPerConnection?: number
  /** Data frame size, at most MAX_CHUNK_BYTES (1 MiB). @default CHUNK_BYTES (1 MiB) */
  chunkBytes?: number
  /** @default REQUEST_TIMEOUT_MS (10 s) */
  requestTimeoutMs?: number
  /** A holder that sends nothing for this long is dropped for the next. @default IDLE_TIMEOUT_MS (30 s) */
  idleTimeoutMs?: number
  /** Testing aid only: see {@link ServeHook}. */
  serveHook?: ServeHook
}

export interface FetchOptions {
  /** Peers believed to hold the blob, tried in order until one serves correct bytes. */
  holders: readonly PeerId[]
  /** Refuse a blob larger than this before reading it. @default the store's maxBlobBytes */
  maxBytes?: number
  signal?: AbortSignal
}

export interface FetchedBlob {
  cid: BlobCid
  size: number
  /** The peer that served it; undefined when the blob was already stored locally. */
  holder?: PeerId
}

export interface BlobServiceStats {
  /** Requests being served now. */
  activeServes: number
  /** Requests accepted for serving since start. */
  servedStreams: number
  /** Data bytes sent. */
  servedBytes: number
  /** Requests answered BUSY. */
  refusedBusy: number
  /** Network transfers started by `fetch` (deduplicated fetches share one). */
  transfers: number
  /** Verified bytes fetched and stored. */
  fetchedBytes: number
  /** Frame buffers allocated for serving; every other frame reused one. */
  frameBuffers: number
}

interface SharedTransfer {
  promise: Promise<FetchedBlob>
  controller: AbortController
  callers: number
}

export class BlobService implements Startable {
  private readonly log: Logger
  private readonly init: Required<Omit<BlobServiceInit, 'serveHook'>> & Pick<BlobServiceInit, 'serveHook'>
  private readonly inflight = new Map<string, SharedTransfer>()
  private readonly frames: FrameBuffers
  private shutdown = new AbortController()
  private started = false
  private readonly counters: Omit<BlobServiceStats, 'frameBuffers'> = {
    activeServes: 0,
    servedStreams: 0,
    servedBytes: 0,
    refusedBusy: 0,
    transfers: 0,
    fetchedBytes: 0,
  }

  constructor(
    private readonly components: BlobServiceComponents,
    init: BlobServiceInit = {},
  ) {
    this.log = components.logger.forComponent('plusone:blobs')
    this.init = {
      maxConcurrentServes: init.maxConcurrentServes ?? MAX_CONCURRENT_SERVES,
      maxStreamsPerConnection: init.maxStreamsPerConnection ?? MAX_STREAMS_PER_CONNECTION,
      chunkBytes: Math.min(init.chunkBytes ?? CHUNK_BYTES, MAX_CHUNK_BYTES),
      requestTimeoutMs: init.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      idleTimeoutMs: init.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
      serveHook: init.serveHook,
    }
    this.frames = new FrameBuffers(this.init.chunkBytes, FREE_FRAMES)
  }

  readonly [Symbol.toStringTag] = '@plusone/blobs'

  async start(): Promise<void> {
    if (this.started) return
    this.shutdown = new AbortController()
    // every serve listens to it (anySignal) until it is done
    setMaxListeners(Number.POSITIVE_INFINITY, this.shutdown.signal)
    await this.components.registrar.handle(
      BLOB_PROTOCOL,
      async (stream, connection) => this.onStream(stream, connection),
      {
        maxInboundStreams: this.init.maxStreamsPerConnection,
        maxOutboundStreams: this.init.maxStreamsPerConnection,
        // homes behind NAT fetch and serve blobs over relayed connections (limits sized for it)
        runOnLimitedConnection: true,
      },
    )
    this.started = true
  }

  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    this.shutdown.abort(new Error('blob service stopped'))
    for (const shared of this.inflight.values()) shared.controller.abort(new Error('blob service stopped'))
    this.inflight.clear()
    await this.components.registrar.unhandle(BLOB_PROTOCOL)
  }

  isStarted(): boolean {
    return this.started
  }

  stats(): BlobServiceStats {
    return { ...this.counters, frameBuffers: this.frames.allocated }
  }

  /**
   * Ensures the blob is in the local store, fetching it from `holders` if needed. Concurrent
   * calls for one CID share one transfer, run with the first caller's holders and limit;
   * each caller's own `maxBytes` and `signal` still apply to what it receives. The shared
   * transfer is abandoned only when every waiting caller has aborted.
   */
  async fetch(cid: CID | string, options: FetchOptions): Promise<FetchedBlob> {
    const blobCid = parseBlobCid(cid)
    const signal = options.signal
    signal?.throwIfAborted()
    const maxBytes = Math.min(
      options.maxBytes ?? this.components.store.maxBlobBytes,
      this.components.store.maxBlobBytes,
    )
    const result =
      (await this.local(blobCid)) ?? (await this.join(blobCid, options.holders, maxBytes, signal))
    if (result.size > maxBytes) {
      throw new BlobTooLargeError(`blob ${blobCid} is ${result.size} bytes, limit ${maxBytes}`)
    }
    return result
  }

  private async local(cid: BlobCid): Promise<FetchedBlob | undefined> {
    if (!(await this.components.store.has(cid))) return undefined
    return { cid, size: await this.components.store.size(cid) }
  }

  private async join(
    cid: BlobCid,
    holders: readonly PeerId[],
    maxBytes: number,
    signal: AbortSignal | undefined,
  ): Promise<FetchedBlob> {
    const key = cid.toString()
    let shared = this.inflight.get(key)
    if (shared == null) {
      const controller = new AbortController()
      const created: SharedTransfer = {
        controller,
        callers: 0,
        promise: this.transfer(cid, [...holders], maxBytes, controller.signal).finally(() => {
          if (this.inflight.get(key) === created) this.inflight.delete(key)
        }),
      }
      created.promise.catch(() => {}) // every caller awaits it; this keeps an abandoned one quiet
      this.inflight.set(key, created)
      shared = created
    }
    const joined = shared
    joined.callers++
    try {
      return await raceSignal(joined.promise, signal)
    } finally {
      joined.callers--
      if (joined.callers === 0 && signal?.aborted === true) {
        joined.controller.abort(signal.reason)
        if (this.inflight.get(key) === joined) this.inflight.delete(key)
      }
    }
  }

  private async transfer(
    cid: BlobCid,
    holders: PeerId[],
    maxBytes: number,
    signal: AbortSignal,
  ): Promise<FetchedBlob> {
    if (holders.length === 0) throw new BlobNotFoundError(`no holders given for ${cid}`)
    this.counters.transfers++
    const errors: Error[] = []
    for (const peer of holders) {
      signal.throwIfAborted()
      try {
        const size = await fetchFromHolder({
          dialer: this.components.dialer,
          store: this.components.store,
          log: this.log,
          peer,
          cid,
          maxBytes,
          idleTimeoutMs: this.init.idleTimeoutMs,
          signal,
        })
        this.counters.fetchedBytes += size
        this.log('fetched %s (%d bytes) from %p', cid, size, peer)
        return { cid, size, holder: peer }
      } catch (err) {
        if (signal.aborted) throw signal.reason
        const error = err instanceof Error ? err : new Error(String(err))
        // A local failure (full disk) would repeat with every holder.
        if (error.name === 'BlobStoreFullError') throw error
        this.log('fetching %s from %p failed: %s: %s', cid, peer, error.name, error.message)
        errors.push(error)
      }
    }
    throw summarize(cid, errors)
  }

  private async onStream(stream: Stream, connection: Connection): Promise<void> {
    if (this.counters.activeServes >= this.init.maxConcurrentServes) {
      this.counters.refusedBusy++
      try {
        sendStatus(stream, BlobResponse.Status.BUSY)
        await stream.close({ signal: AbortSignal.timeout(this.init.requestTimeoutMs) })
      } catch (err) {
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      }
      return
    }
    this.counters.activeServes++
    this.counters.servedStreams++
    this.log.trace('serving a blob request from %p', connection.remotePeer)
    try {
      const transport = sendTransport(connection)
      await serveBlob(stream, {
        store: this.components.store,
        log: this.log,
        chunkBytes: this.init.chunkBytes,
        requestTimeoutMs: this.init.requestTimeoutMs,
        idleTimeoutMs: this.init.idleTimeoutMs,
        serveHook: this.init.serveHook,
        shutdown: this.shutdown.signal,
        onSent: (bytes) => {
          this.counters.servedBytes += bytes
        },
        frames: transport != null ? { pool: this.frames, transport } : undefined,
      })
    } finally {
      this.counters.activeServes--
    }
  }
}

/** One error for the caller: the shared kind when every holder failed alike, else a summary. */
function summarize(cid: BlobCid, errors: Error[]): Error {
  const last = errors[errors.length - 1]!
  if (errors.every((e) => e.name === last.name)) return last
  const reasons = errors.map((e) => `${e.name}: ${e.message}`).join('; ')
  return new BlobFetchError(`no holder served ${cid}: ${reasons}`, errors)
}

async function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal == null) return promise
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    if (onAbort != null) signal.removeEventListener('abort', onAbort)
  }
}

/** libp2p-style factory: `blobService(init)(components)`. */
export function blobService(init: BlobServiceInit = {}): (components: BlobServiceComponents) => BlobService {
  return (components) => new BlobService(components, init)
}
