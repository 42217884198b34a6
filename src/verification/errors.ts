/**
 * Thrown when the code driving a quorum breaks the contract of {@link QuorumTask}: it awards a
 * peer that already had the task, awards more peers than were asked for, reports an output check
 * that was never requested, or sends events before `start()`. These are bugs in the caller, never
 * caused by a remote peer: input from the network is ignored with an `ignored` decision instead.
 */
export class QuorumUsageError extends Error {
  static name = 'QuorumUsageError'
  constructor(message: string) {
    super(message)
    this.name = 'QuorumUsageError'
  }
}

/** Thrown by {@link prefixKey} for an address that carries no IPv4 or IPv6 component. */
export class InvalidAddressError extends Error {
  static name = 'InvalidAddressError'
  constructor(address: string) {
    super(`"${address}" has no IPv4 or IPv6 address to derive a network prefix from`)
    this.name = 'InvalidAddressError'
  }
}

/** Thrown when replication or quorum options are out of range; the message names the option. */
export class InvalidQuorumOptionsError extends Error {
  static name = 'InvalidQuorumOptionsError'
  constructor(message: string) {
    super(message)
    this.name = 'InvalidQuorumOptionsError'
  }
}
