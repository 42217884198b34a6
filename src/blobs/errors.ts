/**
 * Named errors of the blob store and the blob protocol. Callers branch on `err.name`.
 */

/** A CID from outside (a peer, a user, a file) is not a CIDv1 with raw codec and sha256. */
export class InvalidBlobCidError extends Error {
  static override name = 'InvalidBlobCidError'
  constructor(message = 'not a blob CID: expected CIDv1, raw codec (0x55), sha256 multihash') {
    super(message)
    this.name = 'InvalidBlobCidError'
  }
}

/** The blob is not in the local store, or no holder had it. */
export class BlobNotFoundError extends Error {
  static override name = 'BlobNotFoundError'
  constructor(message = 'blob not found') {
    super(message)
    this.name = 'BlobNotFoundError'
  }
}

/** The blob is larger than the limit the caller (or the store) accepts. */
export class BlobTooLargeError extends Error {
  static override name = 'BlobTooLargeError'
  constructor(message = 'blob is larger than the limit') {
    super(message)
    this.name = 'BlobTooLargeError'
  }
}

/** The bytes do not hash to the CID they were asked for; they were not stored. */
export class BlobHashMismatchError extends Error {
  static override name = 'BlobHashMismatchError'
  constructor(message = 'blob bytes do not match their CID') {
    super(message)
    this.name = 'BlobHashMismatchError'
  }
}

/** The disk is full (ENOSPC or EDQUOT); the partial blob was removed. Free space and retry. */
export class BlobStoreFullError extends Error {
  static override name = 'BlobStoreFullError'
  constructor(message = 'no space left for the blob store; free disk space and retry') {
    super(message)
    this.name = 'BlobStoreFullError'
  }
}

/** A holder broke the wire protocol (bad header, oversize frame, truncated or excess data). */
export class BlobProtocolError extends Error {
  static override name = 'BlobProtocolError'
  constructor(message = 'blob protocol violation') {
    super(message)
    this.name = 'BlobProtocolError'
  }
}

/** A holder answered BUSY (it is serving its maximum number of streams). */
export class BlobHolderBusyError extends Error {
  static override name = 'BlobHolderBusyError'
  constructor(message = 'blob holder is busy') {
    super(message)
    this.name = 'BlobHolderBusyError'
  }
}

/** A holder sent nothing for longer than the idle timeout. */
export class BlobHolderTimeoutError extends Error {
  static override name = 'BlobHolderTimeoutError'
  constructor(message = 'blob holder stopped sending') {
    super(message)
    this.name = 'BlobHolderTimeoutError'
  }
}

/** Every holder failed, for different reasons; `errors` holds one error per attempt. */
export class BlobFetchError extends Error {
  static override name = 'BlobFetchError'
  readonly errors: readonly Error[]
  constructor(message: string, errors: readonly Error[]) {
    super(message)
    this.name = 'BlobFetchError'
    this.errors = errors
  }
}

/** The store's hash thread died or was stopped while a blob was being hashed on it: the blob is given up. */
export class HashThreadError extends Error {
  static override name = 'HashThreadError'
  constructor(message = 'the hash thread failed') {
    super(message)
    this.name = 'HashThreadError'
  }
}
