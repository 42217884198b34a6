/**
 * The daemon's MarketTransport. Bids, claims and invitations go over the market channel (one
 * long-lived `/plusone/market/1.0.0` stream per peer pair and direction, wire.ts `MarketWire`);
 * a peer that does not speak it is asked over one stream per request on the per-method
 * protocol, which stays served for such peers. What one peer may ask is bounded over both paths
 * together (peer-limits.ts).
 */
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { PeerLimits, type PeerLimitsInit } from './peer-limits.js'
import type { MarketTransport } from './transport.js'
import {
  CHANNEL_METHODS,
  CHANNEL_PROTOCOL,
  type ChannelMethod,
  channelResponder,
  type Dialer,
  MAX_CHANNEL_STREAMS,
  MAX_MARKET_STREAMS,
  MarketWire,
  type Responder,
  request,
  responder,
} from './wire.js'

export interface Libp2pTransportComponents {
  registrar: Pick<Libp2p, 'handle' | 'unhandle'>
  dialer: Dialer
  /** Where stream errors are reported (they end only that exchange). */
  onError: (err: Error) => void
  /** What one peer may ask at once and per second. */
  limits?: PeerLimitsInit
}

const isChannelMethod = (protocol: string): protocol is ChannelMethod =>
  (CHANNEL_METHODS as readonly string[]).includes(protocol)

export function libp2pTransport({
  registrar,
  dialer,
  onError,
  limits: limitsInit,
}: Libp2pTransportComponents): MarketTransport {
  // bids, awards and claims also run over relayed connections: executors at home reach a
  // submitter at home only through a relay
  const streams = {
    maxInboundStreams: MAX_MARKET_STREAMS,
    maxOutboundStreams: MAX_MARKET_STREAMS,
    runOnLimitedConnection: true,
  }
  const channelStreams = {
    maxInboundStreams: MAX_CHANNEL_STREAMS,
    maxOutboundStreams: MAX_CHANNEL_STREAMS,
    runOnLimitedConnection: true,
  }
  const wire = new MarketWire(dialer)
  const limits = new PeerLimits(limitsInit)
  /** What the channel answers, by method; read per request. */
  const responders: Partial<Record<ChannelMethod, Responder>> = {}
  /** Set while the channel is served; aborting it ends every channel served. */
  let serving: AbortController | undefined

  return {
    async handle(protocol, handler, { maxRequestBytes, timeoutMs }) {
      const r: Responder = {
        maxRequestBytes,
        timeoutMs,
        respond: (body, connection, signal) =>
          handler(
            body,
            { peer: connection.remotePeer.toString(), address: connection.remoteAddr.toString() },
            signal,
          ),
      }
      await registrar.handle(
        protocol,
        responder(maxRequestBytes, timeoutMs, r.respond, onError, limits),
        streams,
      )
      if (!isChannelMethod(protocol)) return
      responders[protocol] = r
      if (serving != null) return
      // created before the handler that captures its signal
      const controller = new AbortController()
      serving = controller
      wire.start()
      await registrar.handle(
        CHANNEL_PROTOCOL,
        channelResponder(responders, onError, controller.signal, limits),
        channelStreams,
      )
    },
    async unhandle(protocol) {
      await registrar.unhandle(protocol)
      if (!isChannelMethod(protocol) || responders[protocol] == null) return
      delete responders[protocol]
      if (serving == null || CHANNEL_METHODS.some((m) => responders[m] != null)) return
      // the last method: stop serving and asking over channels
      serving.abort()
      serving = undefined
      wire.stop()
      await registrar.unhandle(CHANNEL_PROTOCOL)
    },
    request(peer, protocol, body, { maxReplyBytes, signal }) {
      return request(wire, peerIdFromString(peer), protocol, body, maxReplyBytes, signal)
    },
  }
}
