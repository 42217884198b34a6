/** A task spec is malformed or out of range. */
export class InvalidTaskSpecError extends Error {
  static name = 'InvalidTaskSpecError'
  constructor(message: string) {
    super(message)
    this.name = 'InvalidTaskSpecError'
  }
}

/** A gossiped announcement was refused (oversize, malformed, unsigned, forged or expired). */
export class InvalidAnnouncementError extends Error {
  static name = 'InvalidAnnouncementError'
  constructor(message: string) {
    super(message)
    this.name = 'InvalidAnnouncementError'
  }
}

/** A result claim was refused (malformed, forged, inconsistent). */
export class InvalidClaimError extends Error {
  static name = 'InvalidClaimError'
  constructor(message: string) {
    super(message)
    this.name = 'InvalidClaimError'
  }
}

/** A job or task id this node does not know. */
export class UnknownTaskError extends Error {
  static name = 'UnknownTaskError'
  constructor(message: string) {
    super(message)
    this.name = 'UnknownTaskError'
  }
}

/** `result()` on a task that has no accepted output (yet). */
export class NoResultError extends Error {
  static name = 'NoResultError'
  constructor(message: string) {
    super(message)
    this.name = 'NoResultError'
  }
}

/** The market is not started, or stopped while an operation waited. */
export class MarketStoppedError extends Error {
  static name = 'MarketStoppedError'
  constructor(message = 'the market is not running') {
    super(message)
    this.name = 'MarketStoppedError'
  }
}

/** A job request that cannot become tasks (no inputs, bad limits). */
export class InvalidJobError extends Error {
  static name = 'InvalidJobError'
  constructor(message: string) {
    super(message)
    this.name = 'InvalidJobError'
  }
}

/** The peer cannot be reached on the market transport (gone, partitioned away, message lost). */
export class PeerUnreachableError extends Error {
  static name = 'PeerUnreachableError'
  constructor(message: string) {
    super(message)
    this.name = 'PeerUnreachableError'
  }
}

/** A market channel request failed: the peer refused it, sent a malformed frame, or the channel broke. */
export class MarketChannelError extends Error {
  static name = 'MarketChannelError'
  constructor(message: string) {
    super(message)
    this.name = 'MarketChannelError'
  }
}

/**
 * The connection (or stream) a request travelled on closed before its reply came: the request
 * may or may not have been handled. Every market request is idempotent on the receiver, so it
 * is sent again on another connection (wire.ts); this is thrown only when that fails too.
 */
export class MarketPathClosedError extends Error {
  static name = 'MarketPathClosedError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'MarketPathClosedError'
  }
}

/** A job cannot be removed yet: a task of it is still running or settling. */
export class JobBusyError extends Error {
  static name = 'JobBusyError'
  constructor(message: string) {
    super(message)
    this.name = 'JobBusyError'
  }
}
