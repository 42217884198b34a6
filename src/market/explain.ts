/**
 * Sentences that say why a task waits, from the capacity records seen and the bids received,
 * e.g. "no bids for 20 s: 0 of 6 known nodes offer 512 MiB of memory" or "3 bids, 5 replicas asked".
 */
import type { Capacity } from '../capacity/index.js'
import type { TaskSpec } from './spec.js'

const MIB = 1024 * 1024

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * MIB && bytes % (1024 * MIB) === 0) return `${bytes / (1024 * MIB)} GiB`
  if (bytes >= MIB) return `${Math.round(bytes / MIB)} MiB`
  return `${Math.round(bytes / 1024)} KiB`
}

export function formatSeconds(ms: number): string {
  return ms < 10_000 ? (ms / 1000).toFixed(1) : String(Math.round(ms / 1000))
}

/** What the known nodes (other than the submitter) could offer this task. */
export function explainSupply(spec: TaskSpec, known: readonly Capacity[]): string {
  const others = known.filter((c) => c.peerId !== spec.submitter)
  const n = others.length
  if (n === 0) return 'no other node is known yet (no capacity records seen)'
  const memory = others.filter((c) => c.memoryMB * MIB >= spec.memoryBytes)
  if (memory.length === 0) return `0 of ${n} known nodes offer ${formatBytes(spec.memoryBytes)} of memory`
  const price = memory.filter((c) => c.price <= spec.maxPrice)
  if (price.length === 0) {
    return `0 of ${n} known nodes offering ${formatBytes(spec.memoryBytes)} ask at most ${spec.maxPrice} per Gfuel`
  }
  if (price.length < spec.replicas) {
    return `only ${price.length} of ${n} known nodes can run it, ${spec.replicas} replicas asked`
  }
  return `${price.length} of ${n} known nodes can run it; they may be busy`
}

export interface WaitState {
  spec: TaskSpec
  /** Distinct peers that bid on this task. */
  bidders: number
  /** Awards still wanted. */
  need: number
  awarded: number
  /** Replicas in force (the quorum's). */
  replicas: number
  firstAnnouncedAt: number
  now: number
  known: readonly Capacity[]
}

/** Why the task is waiting for executors, or undefined when it is not short of any. */
export function explainWaiting(s: WaitState): string | undefined {
  if (s.need <= 0) return undefined
  const elapsed = s.now - s.firstAnnouncedAt
  if (s.bidders === 0) return `no bids for ${formatSeconds(elapsed)} s: ${explainSupply(s.spec, s.known)}`
  const bids = `${s.bidders} bid${s.bidders === 1 ? '' : 's'}`
  if (s.awarded === 0 || s.bidders < s.replicas) return `${bids}, ${s.replicas} replicas asked`
  return `${bids}, ${s.awarded} executions so far, waiting for ${s.need} more executor${s.need === 1 ? '' : 's'}`
}
