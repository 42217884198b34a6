/**
 * How the market talks to other nodes, as a contract: one request/response exchange per bid or
 * claim, and gossip for announcements (MarketPubSub, types.ts). Two implementations:
 *
 * - `libp2pTransport` (transport-libp2p.ts): the daemon's — length-prefixed protobuf on
 *   `/plusone/bid/1.0.0` and `/plusone/result/1.0.0` streams (wire.ts), unchanged on the wire;
 * - `InMemoryNetwork` (transport-memory.ts): N nodes in one process without sockets, with
 *   simulated latency, loss, partitions and message counters — the way hashicorp/raft ships
 *   `InmemTransport` — so the real market, verification and ledger code is tested in milliseconds.
 */

/** Who a request came from: the peer id, and the address it connected from (Sybil prefix caps). */
export interface RemotePeer {
  peer: string
  address?: string
}

/** Answers one request; the reply goes back to the requester. */
export type RequestHandler = (body: Uint8Array, from: RemotePeer, signal: AbortSignal) => Promise<Uint8Array>

export interface HandleOptions {
  /** Requests over this size are refused before they are read. */
  maxRequestBytes: number
  /** The handler's answer must come within this time, or the exchange is aborted. */
  timeoutMs: number
}

export interface RequestOptions {
  /** Replies over this size are refused. */
  maxReplyBytes: number
  signal: AbortSignal
}

export interface MarketTransport {
  handle(protocol: string, handler: RequestHandler, options: HandleOptions): Promise<void>
  unhandle(protocol: string): Promise<void>
  /** Sends `body` to `peer` on `protocol` and resolves with its reply. */
  request(peer: string, protocol: string, body: Uint8Array, options: RequestOptions): Promise<Uint8Array>
}
