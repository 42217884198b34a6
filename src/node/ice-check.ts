/**
 * Whether the configured ICE servers answer. WebRTC hole punching between two homes needs each
 * home to learn its router's public UDP address from a STUN server (a TURN server answers the
 * same request); a server that is down, misspelt or blocked makes every upgrade fail after its
 * 15 s timeout with nothing in the logs that names the server. `plusone doctor` asks here.
 *
 * The check is one STUN Binding request (RFC 5389) over UDP per server, the request ICE itself
 * sends first: an answer proves the server is there and says which address it saw this node
 * come from. `stuns:`/`turns:` and `?transport=tcp` servers are checked by opening a TCP
 * connection to them. Results are kept for {@link ICE_CHECK_CACHE_MS}, so repeated questions
 * send nothing.
 */
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { connect } from 'node:net'

/** How long a server gets to answer. */
export const ICE_CHECK_TIMEOUT_MS = 3_000
/** A check's result is reused for this long. */
export const ICE_CHECK_CACHE_MS = 30_000
const STUN_DEFAULT_PORT = 3478
const STUNS_DEFAULT_PORT = 5349
const BINDING_REQUEST = 0x0001
const BINDING_SUCCESS = 0x0101
const MAGIC_COOKIE = 0x2112a442
const XOR_MAPPED_ADDRESS = 0x0020
const MAPPED_ADDRESS = 0x0001
const HEADER_BYTES = 20
/** Largest answer read (a Binding response is tens of bytes). */
const MAX_RESPONSE_BYTES = 1024

export interface IceCheck {
  /** The server as configured (credentials left out). */
  server: string
  ok: boolean
  /** The address the server saw this node come from (`ip:port`), for a STUN answer. */
  mapped?: string
  /** Why it failed, in words. */
  error?: string
  ms: number
  at: number
}

interface Target {
  host: string
  port: number
  tcp: boolean
}

/** Host, port and transport of an ICE server URL (already checked by `parseIceServer`). */
export function iceTarget(url: string): Target {
  const [scheme, rest] = [url.slice(0, url.indexOf(':')), url.slice(url.indexOf(':') + 1)]
  const [hostPort, query] = rest.replace(/^.*@/, '').split('?')
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort)
  const tls = scheme === 'stuns' || scheme === 'turns'
  return {
    host: (m?.[1] ?? hostPort).replace(/^\[|\]$/g, ''),
    port: m?.[2] != null ? Number(m[2]) : tls ? STUNS_DEFAULT_PORT : STUN_DEFAULT_PORT,
    tcp: tls || query === 'transport=tcp',
  }
}

/** The server URL without credentials (`turn:user:pass@host` → `turn:host`). */
export function iceServerName(url: string): string {
  return url.replace(/:[^:@/]+:[^@/]+@/, ':')
}

/** The address in a Binding success response to `id`, or undefined when it is not one. */
export function parseBindingResponse(msg: Buffer, id: Buffer): string | undefined {
  if (msg.length < HEADER_BYTES || msg.readUInt16BE(0) !== BINDING_SUCCESS) return undefined
  if (msg.readUInt32BE(4) !== MAGIC_COOKIE || !msg.subarray(8, HEADER_BYTES).equals(id)) return undefined
  const end = Math.min(msg.length, HEADER_BYTES + msg.readUInt16BE(2))
  for (let o = HEADER_BYTES; o + 4 <= end; ) {
    const type = msg.readUInt16BE(o)
    const len = msg.readUInt16BE(o + 2)
    const v = o + 4
    if (
      (type === XOR_MAPPED_ADDRESS || type === MAPPED_ADDRESS) &&
      len >= 8 &&
      v + 8 <= end &&
      msg[v + 1] === 1
    ) {
      const xor = type === XOR_MAPPED_ADDRESS
      const port = msg.readUInt16BE(v + 2) ^ (xor ? MAGIC_COOKIE >>> 16 : 0)
      const ip = (msg.readUInt32BE(v + 4) ^ (xor ? MAGIC_COOKIE : 0)) >>> 0
      return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}:${port}`
    }
    o = v + ((len + 3) & ~3)
  }
  return '' // an answer without an IPv4 address still proves the server is there
}

function stunRequest(target: Target, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const id = randomBytes(12)
    const req = Buffer.alloc(HEADER_BYTES)
    req.writeUInt16BE(BINDING_REQUEST, 0)
    req.writeUInt32BE(MAGIC_COOKIE, 4)
    id.copy(req, 8)
    const socket = createSocket(target.host.includes(':') ? 'udp6' : 'udp4')
    const done = (err: Error | undefined, mapped?: string): void => {
      clearTimeout(timer)
      socket.close()
      if (err != null) reject(err)
      else resolve(mapped ?? '')
    }
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs)
    socket.on('error', (err) => done(err))
    socket.on('message', (msg) => {
      if (msg.length > MAX_RESPONSE_BYTES) return
      const mapped = parseBindingResponse(msg, id)
      if (mapped !== undefined) done(undefined, mapped)
    })
    // connected, so an ICMP "port unreachable" comes back as an error at once
    socket.connect(target.port, target.host, () => socket.send(req))
  })
}

function tcpConnect(target: Target, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: target.host, port: target.port, timeout: timeoutMs })
    s.once('connect', () => {
      s.destroy()
      resolve('')
    })
    s.once('timeout', () => {
      s.destroy()
      reject(new Error(`no TCP connection within ${timeoutMs / 1000} s`))
    })
    s.once('error', (err) => reject(err))
  })
}

/** Checks one ICE server. */
export async function checkIceServer(url: string, timeoutMs = ICE_CHECK_TIMEOUT_MS): Promise<IceCheck> {
  const started = Date.now()
  const server = iceServerName(url)
  try {
    const target = iceTarget(url)
    const mapped = await (target.tcp ? tcpConnect(target, timeoutMs) : stunRequest(target, timeoutMs))
    return {
      server,
      ok: true,
      mapped: mapped === '' ? undefined : mapped,
      ms: Date.now() - started,
      at: Date.now(),
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const error =
      e.code === 'ECONNREFUSED'
        ? 'nothing listens there (connection refused)'
        : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN'
          ? 'its host name does not resolve'
          : e.code === 'ENETUNREACH' || e.code === 'EHOSTUNREACH'
            ? 'no route to it from this machine'
            : e.message
    return { server, ok: false, error, ms: Date.now() - started, at: Date.now() }
  }
}

/** The configured ICE servers' checks, run at most once per {@link ICE_CHECK_CACHE_MS}. */
export class IceServerCheck {
  #last?: { at: number; result: Promise<IceCheck[]> }

  constructor(
    private readonly urls: readonly string[],
    private readonly timeoutMs = ICE_CHECK_TIMEOUT_MS,
  ) {}

  check(now = Date.now()): Promise<IceCheck[]> {
    if (this.#last != null && now - this.#last.at < ICE_CHECK_CACHE_MS) return this.#last.result
    const result = Promise.all(this.urls.map((u) => checkIceServer(u, this.timeoutMs)))
    this.#last = { at: now, result }
    return result
  }
}
