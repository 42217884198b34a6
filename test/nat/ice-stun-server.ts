/**
 * The lab's STUN server for WebRTC's ICE (RFC 5389 Binding only): answers each Binding request with the
 * address and port it came from (XOR-MAPPED-ADDRESS), which is how a home behind NAT learns
 * its router's mapping — its server-reflexive ICE candidate. Run as
 * `node ice-stun-server.js HOST PORT` inside the lab's public namespace; it prints `listening`
 * once bound and stops on SIGTERM. Nothing else is answered; malformed packets are dropped.
 */
import { createSocket } from 'node:dgram'

const BINDING_REQUEST = 0x0001
const BINDING_SUCCESS = 0x0101
const MAGIC_COOKIE = 0x2112a442
const XOR_MAPPED_ADDRESS = 0x0020
const HEADER_BYTES = 20

/** The Binding success response to `req` from `address:port`, or undefined when `req` is none. */
export function bindingResponse(req: Buffer, address: string, port: number): Buffer | undefined {
  if (req.length < HEADER_BYTES || req.readUInt16BE(0) !== BINDING_REQUEST) return undefined
  if (req.readUInt32BE(4) !== MAGIC_COOKIE) return undefined
  const octets = address.split('.').map(Number)
  if (octets.length !== 4) return undefined
  const res = Buffer.alloc(HEADER_BYTES + 12)
  res.writeUInt16BE(BINDING_SUCCESS, 0)
  res.writeUInt16BE(12, 2)
  res.writeUInt32BE(MAGIC_COOKIE, 4)
  req.copy(res, 8, 8, HEADER_BYTES) // transaction id
  res.writeUInt16BE(XOR_MAPPED_ADDRESS, 20)
  res.writeUInt16BE(8, 22)
  res.writeUInt8(0, 24)
  res.writeUInt8(0x01, 25) // IPv4
  res.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), 26)
  const ip = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0
  res.writeUInt32BE((ip ^ MAGIC_COOKIE) >>> 0, 28)
  return res
}

if (process.argv[1]?.endsWith('ice-stun-server.js')) {
  const [host, port] = [process.argv[2], Number(process.argv[3])]
  const socket = createSocket('udp4')
  socket.on('message', (msg, rinfo) => {
    const res = bindingResponse(msg, rinfo.address, rinfo.port)
    if (res != null) socket.send(res, rinfo.port, rinfo.address)
  })
  socket.bind(port, host, () => process.stdout.write('listening\n'))
  process.on('SIGTERM', () => socket.close(() => process.exit(0)))
}
