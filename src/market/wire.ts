/**
 * The two request/response protocols of the market, one length-prefixed protobuf each way:
 *
 * ```
 * /plusone/bid/1.0.0     executor → submitter: varint(len) Bid          (≤ 256 bytes)
 *                        submitter → executor: varint(len) BidReply     (≤ 512 bytes)
 * /plusone/result/1.0.0  executor → submitter: varint(len) SignedClaim  (≤ MAX_CLAIM_BYTES)
 *                        submitter → executor: varint(len) ClaimAck     (≤ 512 bytes)
 * ```
 */
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'

export const BID_PROTOCOL = '/plusone/bid/1.0.0'
export const RESULT_PROTOCOL = '/plusone/result/1.0.0'
export const MAX_BID_BYTES = 256
/** Largest input sent inline with an award (saves the executor a blob fetch). */
export const INLINE_INPUT_BYTES = 8 * 1024
export const MAX_REPLY_BYTES = INLINE_INPUT_BYTES + 512
/**
 * Streams per connection and direction for each market protocol. An executor has at most
 * `maxTasks` bids and claims open to one submitter; 64 leaves room without letting one peer
 * hold hundreds of half-open streams.
 */
export const MAX_MARKET_STREAMS = 64

/** Opens streams: on an open connection when there is one (cheaper), else by dialling. */
export type Dialer = Pick<Libp2p, 'dialProtocol'> & Partial<Pick<Libp2p, 'getConnections'>>

/** Sends one request and reads one reply on a fresh stream. */
export async function request(
  dialer: Dialer,
  peer: PeerId,
  protocol: string,
  body: Uint8Array,
  maxReplyBytes: number,
  signal: AbortSignal,
): Promise<Uint8Array> {
  // a direct connection when there is one; a relayed one (a home behind NAT) will do
  const conns = dialer.getConnections?.(peer).filter((c) => c.status === 'open') ?? []
  const open = conns.find((c) => c.limits == null) ?? conns[0]
  const opts = { signal, runOnLimitedConnection: true }
  const stream =
    open == null
      ? await dialer.dialProtocol(peer, protocol, opts)
      : await open.newStream(protocol, opts).catch(() => dialer.dialProtocol(peer, protocol, opts))
  try {
    const lp = lpStream(stream, { maxDataLength: maxReplyBytes })
    await lp.write(body, { signal })
    const reply = await lp.read({ signal })
    await stream.close({ signal }).catch(() => {})
    return reply.subarray()
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/** A handler that reads one bounded request and answers with the bytes `respond` returns. */
export function responder(
  maxRequestBytes: number,
  timeoutMs: number,
  respond: (body: Uint8Array, connection: Connection, signal: AbortSignal) => Promise<Uint8Array>,
  onError: (err: Error) => void,
): (stream: Stream, connection: Connection) => Promise<void> {
  return async (stream, connection) => {
    const signal = AbortSignal.timeout(timeoutMs)
    try {
      const lp = lpStream(stream, { maxDataLength: maxRequestBytes })
      const body = await lp.read({ signal })
      const reply = await respond(body.subarray(), connection, signal)
      await lp.write(reply, { signal })
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      onError(err as Error)
      stream.abort(err as Error)
    }
  }
}
