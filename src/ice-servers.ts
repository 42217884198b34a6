/**
 * ICE server URLs for WebRTC, checked where the operator gives them (config, `--ice-server`).
 * No dependencies, so the CLI can validate a config without loading libp2p.
 */

export class IceServerError extends Error {
  static name = 'IceServerError'
  constructor(message: string) {
    super(message)
    this.name = 'IceServerError'
  }
}

const ICE_URL =
  /^(stun|stuns|turn|turns):(?:[^\s:@/]+:[^\s@/]+@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\?transport=(udp|tcp))?$/

/**
 * Checks an ICE server URL: `stun:host[:port]`, or `turn:user:password@host[:port]` (also
 * `stuns:`/`turns:`, and `?transport=udp|tcp` for TURN).
 * @throws IceServerError with what is wrong
 */
export function parseIceServer(url: string): { urls: string } {
  const m = ICE_URL.exec(url)
  if (m == null)
    throw new IceServerError(
      `"${url}" is not an ICE server URL (stun:host:port, or turn:user:password@host:port)`,
    )
  if (m[1].startsWith('stun') && (url.includes('@') || m[4] != null))
    throw new IceServerError(`"${url}": a STUN server takes neither credentials nor a transport`)
  const port = m[3] == null ? undefined : Number(m[3].slice(1))
  if (port != null && (port < 1 || port > 65535)) throw new IceServerError(`"${url}": port out of range`)
  return { urls: url }
}
