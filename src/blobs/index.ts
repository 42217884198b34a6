/**
 * @packageDocumentation
 *
 * Content-addressed blobs: WASM modules, task inputs and outputs.
 *
 * **Identity.** A blob is named by its CID: CIDv1, raw codec (0x55), sha256 multihash.
 * {@link parseBlobCid} is the only way a CID from outside (a peer, a user) gets in; anything
 * else throws {@link InvalidBlobCidError}.
 *
 * **Store.** {@link BlobStore} keeps blobs in `<dataDir>/blobs/`. `put` is idempotent;
 * every write goes to a temp file that is fsynced and renamed into place, so a reader (or a
 * restart after a crash) never sees a torn blob. A full disk throws
 * {@link BlobStoreFullError} and leaves nothing behind. Blobs are at most
 * {@link MAX_BLOB_BYTES} (64 MiB) unless the store is opened with another `maxBlobBytes`.
 *
 * **Protocol `/plusone/blob/1.0.0`.** {@link BlobService} serves the store to peers and
 * fetches from them. Wire format (see `protocols/blob.proto`):
 *
 * ```
 * requester → holder: varint(len) BlobRequest{cid bytes, offset}        (≤ 256 bytes; then half-close)
 * holder → requester: varint(len) BlobResponse{status, size}            (≤ 64 bytes)
 *                     [status OK] (varint(n) n bytes)*  varint(0)      (1 ≤ n ≤ 1 MiB; bytes [offset, size))
 * ```
 *
 * Statuses: OK, NOT_FOUND, BAD_REQUEST, BUSY (the holder is at `maxConcurrentServes`), ERROR.
 * The requester refuses a blob whose announced size exceeds its limit before reading any of
 * it, hashes bytes as they arrive (a blob of 4 MiB or more on the store's hash thread where
 * the machine has 4 cores or more, so the main thread only decrypts and copies), stores them
 * only if they match the CID, and otherwise
 * moves on to the next holder. Concurrent fetches of one CID share one transfer.
 *
 * **Cache.** {@link BlobCache} bounds what an executor keeps of other peers' blobs (modules,
 * inputs, outputs): a size limit with least recently used out, pins for running tasks, inputs
 * collected when a run ends and outputs once their task is settled or abandoned.
 *
 * @example
 * ```ts
 * const store = await BlobStore.open({ dataDir })
 * const blobs = new BlobService({ registrar: node, dialer: node, store, logger: node.logger })
 * await blobs.start()
 * const cid = await store.put(bytes)                    // on the holder
 * await blobs.fetch(cid, { holders: [holderId], maxBytes: 1 << 20, signal: AbortSignal.timeout(10_000) })
 * const same = await store.get(cid)                     // on the requester
 * ```
 */

export {
  BlobCache,
  type BlobCacheComponents,
  type BlobCacheInit,
  type BlobCacheStats,
  type CacheEntry,
  type CachedKind,
  DEFAULT_CACHE_BYTES,
  type OutputHold,
} from './cache.js'
export {
  type BlobCid,
  BlobHasher,
  blobCidOf,
  MAX_CID_BYTES,
  MAX_CID_STRING_CHARS,
  parseBlobCid,
  RAW_CODEC,
  SHA256_CODE,
} from './cid.js'
export { BLOB_PROTOCOL, MAX_CHUNK_BYTES, MAX_HEADER_BYTES } from './client.js'
export {
  BlobFetchError,
  BlobHashMismatchError,
  BlobHolderBusyError,
  BlobHolderTimeoutError,
  BlobNotFoundError,
  BlobProtocolError,
  BlobStoreFullError,
  BlobTooLargeError,
  HashThreadError,
  InvalidBlobCidError,
} from './errors.js'
export { HASH_THREAD_MIN_BYTES, HASH_THREAD_MIN_CORES } from './hasher.js'
export { MAX_REQUEST_BYTES, type ServeHook } from './server.js'
export {
  BlobService,
  type BlobServiceComponents,
  type BlobServiceInit,
  type BlobServiceStats,
  blobService,
  CHUNK_BYTES,
  type FetchedBlob,
  type FetchOptions,
  IDLE_TIMEOUT_MS,
  MAX_CONCURRENT_SERVES,
  MAX_STREAMS_PER_CONNECTION,
  REQUEST_TIMEOUT_MS,
} from './service.js'
export {
  type BlobFile,
  BlobStore,
  type BlobStoreFs,
  type BlobStoreInit,
  type GetOptions,
  MAX_BLOB_BYTES,
  READ_CHUNK_BYTES,
  type ReadOptions,
  type WriterOptions,
} from './store.js'
export { type BlobWriter, WRITER_HIGH_WATER_BYTES } from './writer.js'
