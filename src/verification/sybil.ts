/**
 * Sybil limits on awards, as pure helpers. One machine can create any number of peer ids, but
 * addresses in distinct networks cost more, so on the public network a task's replicas are spread
 * over distinct IPv4 /24 and IPv6 /48 prefixes: a cheater must control that many networks to hold a
 * majority of one task. Not applied inside a private swarm (members are known) nor to loopback
 * addresses, so local meshes and tests work.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { InvalidAddressError } from './errors.js'

/** Awards per task per network prefix on the public network. @default 1 */
export const DEFAULT_MAX_AWARDS_PER_PREFIX = 1

/** Prefix of bids whose address is missing or unreadable: they share one bucket, conservatively. */
export const UNKNOWN_PREFIX = 'unknown'

function ipFromAddress(address: string): string {
  if (!address.startsWith('/')) return address
  const parts = address.split('/')
  for (let i = 1; i < parts.length - 1; i++) {
    if (parts[i] === 'ip4' || parts[i] === 'ip6') return parts[i + 1]
  }
  throw new InvalidAddressError(address)
}

function ipv4Prefix(ip: string): string | undefined {
  const octets = ip.split('.')
  if (octets[0] === '127') return undefined
  return `ip4:${octets[0]}.${octets[1]}.${octets[2]}.0/24`
}

/** The eight 16-bit groups of a valid IPv6 address (an embedded IPv4 tail becomes two groups). */
function ipv6Groups(ip: string): number[] {
  let text = ip.split('%')[0]
  const lastColon = text.lastIndexOf(':')
  const tail = text.slice(lastColon + 1)
  if (tail.includes('.')) {
    const o = tail.split('.').map(Number)
    text = `${text.slice(0, lastColon + 1)}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`
  }
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((h) => Number.parseInt(h, 16)))
  if (!text.includes('::')) return parse(text)
  const [head, rest] = text.split('::')
  const h = parse(head)
  const r = parse(rest)
  return [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r]
}

/**
 * The network prefix that bounds Sybil awards: `ip4:a.b.c.0/24` or `ip6:x:y:z::/48`, taken from the
 * first IPv4/IPv6 component of a multiaddr (`/ip4/1.2.3.4/tcp/4001/...`) or from a bare IP string.
 * IPv4-mapped IPv6 addresses count as IPv4.
 * @returns `undefined` for loopback addresses (127.0.0.0/8, ::1), which are never capped
 * @throws InvalidAddressError when there is no IP address (e.g. `/dns4/...`)
 */
export function prefixKey(address: string): string | undefined {
  const ip = ipFromAddress(address)
  if (isIPv4(ip)) return ipv4Prefix(ip)
  if (!isIPv6(ip.split('%')[0])) throw new InvalidAddressError(address)
  const groups = ipv6Groups(ip)
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return ipv4Prefix(`${groups[6] >> 8}.${groups[6] & 0xff}.${groups[7] >> 8}.${groups[7] & 0xff}`)
  }
  if (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1) return undefined
  return `ip6:${groups[0].toString(16)}:${groups[1].toString(16)}:${groups[2].toString(16)}::/48`
}

/** A bid or a previous awardee: who, and the address it connected from. */
export interface AwardCandidate {
  peer: string
  /** Remote address of the connection (multiaddr or IP); missing → the `unknown` bucket. */
  address?: string
}

export interface AwardSelectionOptions {
  /** Peers wanted now. */
  count: number
  /** Everyone who ever had this task (never awarded again); their prefixes count toward the cap. */
  previous?: readonly AwardCandidate[]
  /**
   * Most awards of one task per network prefix, over all its executions; `undefined` disables the
   * cap (private swarm). Loopback addresses are never capped.
   * @default 1 (pass `undefined` explicitly to disable)
   */
  maxPerPrefix?: number | undefined
}

function safePrefix(address: string | undefined): string | undefined {
  if (address === undefined) return UNKNOWN_PREFIX
  try {
    return prefixKey(address)
  } catch {
    return UNKNOWN_PREFIX
  }
}

/**
 * Picks awardees from bids ranked best first: at most `count`, never a peer in `previous` or twice
 * the same peer, and at most `maxPerPrefix` per network prefix counting `previous`. Returns fewer
 * than `count` when the bids do not allow more; the caller waits for more bids.
 */
export function selectAwardees<B extends AwardCandidate>(
  ranked: readonly B[],
  options: AwardSelectionOptions,
): B[] {
  const cap = 'maxPerPrefix' in options ? options.maxPerPrefix : DEFAULT_MAX_AWARDS_PER_PREFIX
  const taken = new Set<string>()
  const perPrefix = new Map<string, number>()
  const note = (c: AwardCandidate): void => {
    taken.add(c.peer)
    const key = safePrefix(c.address)
    if (key !== undefined) perPrefix.set(key, (perPrefix.get(key) ?? 0) + 1)
  }
  for (const p of options.previous ?? []) note(p)
  const chosen: B[] = []
  for (const bid of ranked) {
    if (chosen.length >= options.count) break
    if (taken.has(bid.peer)) continue
    const key = safePrefix(bid.address)
    if (cap !== undefined && key !== undefined && (perPrefix.get(key) ?? 0) >= cap) continue
    note(bid)
    chosen.push(bid)
  }
  return chosen
}
