/**
 * The daemon's MarketTransport: each exchange is one libp2p stream carrying one length-prefixed
 * request and one reply (wire.ts), so the wire is what it always was.
 */
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { MarketTransport } from './transport.js'
import { type Dialer, MAX_MARKET_STREAMS, request, responder } from './wire.js'

export interface Libp2pTransportComponents {
  registrar: Pick<Libp2p, 'handle' | 'unhandle'>
  dialer: Dialer
  /** Where stream errors are reported (they end only that exchange). */
  onError: (err: Error) => void
}

export function libp2pTransport({ registrar, dialer, onError }: Libp2pTransportComponents): MarketTransport {
  // bids, awards and claims also run over relayed connections: executors at home reach a
  // submitter at home only through a relay
  const streams = {
    maxInboundStreams: MAX_MARKET_STREAMS,
    maxOutboundStreams: MAX_MARKET_STREAMS,
    runOnLimitedConnection: true,
  }
  return {
    async handle(protocol, handler, { maxRequestBytes, timeoutMs }) {
      await registrar.handle(
        protocol,
        responder(
          maxRequestBytes,
          timeoutMs,
          (body, connection, signal) =>
            handler(
              body,
              { peer: connection.remotePeer.toString(), address: connection.remoteAddr.toString() },
              signal,
            ),
          onError,
        ),
        streams,
      )
    },
    async unhandle(protocol) {
      await registrar.unhandle(protocol)
    },
    request(peer, protocol, body, { maxReplyBytes, signal }) {
      return request(dialer, peerIdFromString(peer), protocol, body, maxReplyBytes, signal)
    },
  }
}
