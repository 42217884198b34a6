/**
 * A STUN server for the NAT lab (RFC 5389 binding, with RFC 5780's CHANGE-REQUEST), run inside
 * the lab's internet: `node stun-server.js <ip> <other-ip>`. miniupnpd asks it, before it agrees
 * to forward ports, whether its external interface is on the internet unfiltered: it sends four
 * binding requests (plain, change port, change IP, change both) and needs all four answers, the
 * first from the address it asked, each naming its own address and port unchanged. A router
 * whose WAN address is reserved (the lab's 198.18.0.0/15) passes only this way.
 *
 * Answers come from (ip | other-ip) × (3478 | 3479) as the request asks. Prints `ready` once
 * all four sockets are bound.
 */
import { createSocket, type Socket } from 'node:dgram'

const PORTS = [3478, 3479]
const BINDING_REQUEST = 0x0001
const BINDING_RESPONSE = 0x0101
const MAPPED_ADDRESS = 0x0001
const CHANGE_REQUEST = 0x0003
const CHANGE_IP = 0x4
const CHANGE_PORT = 0x2
const HEADER_BYTES = 20

const ips = process.argv.slice(2, 4)
if (ips.length !== 2) {
  console.error('usage: stun-server <ip> <other-ip>')
  process.exit(2)
}

/** The CHANGE-REQUEST flags of a binding request, or undefined for anything else. */
function changeFlags(msg: Buffer): number | undefined {
  if (msg.length < HEADER_BYTES || msg.readUInt16BE(0) !== BINDING_REQUEST) return undefined
  const end = Math.min(msg.length, HEADER_BYTES + msg.readUInt16BE(2))
  for (let o = HEADER_BYTES; o + 4 <= end; ) {
    const type = msg.readUInt16BE(o)
    const len = msg.readUInt16BE(o + 2)
    if (type === CHANGE_REQUEST && len === 4 && o + 8 <= end) return msg.readUInt32BE(o + 4)
    o += 4 + ((len + 3) & ~3)
  }
  return 0
}

function response(request: Buffer, address: string, port: number): Buffer {
  const out = Buffer.alloc(HEADER_BYTES + 12)
  out.writeUInt16BE(BINDING_RESPONSE, 0)
  out.writeUInt16BE(12, 2)
  request.copy(out, 4, 4, HEADER_BYTES) // magic cookie and transaction id
  out.writeUInt16BE(MAPPED_ADDRESS, HEADER_BYTES)
  out.writeUInt16BE(8, HEADER_BYTES + 2)
  out.writeUInt8(1, HEADER_BYTES + 5) // IPv4
  out.writeUInt16BE(port, HEADER_BYTES + 6)
  for (const [i, b] of address.split('.').entries()) out.writeUInt8(Number(b), HEADER_BYTES + 8 + i)
  return out
}

const sockets: Socket[][] = ips.map(() => [])
let bound = 0
ips.forEach((ip, i) => {
  PORTS.forEach((port, p) => {
    const s = createSocket('udp4')
    sockets[i][p] = s
    s.on('message', (msg, from) => {
      const flags = changeFlags(msg)
      if (flags === undefined || from.family !== 'IPv4') return
      const via = sockets[flags & CHANGE_IP ? 1 - i : i][flags & CHANGE_PORT ? 1 - p : p]
      via.send(response(msg, from.address, from.port), from.port, from.address)
    })
    s.bind(port, ip, () => {
      if (++bound === ips.length * PORTS.length) console.log('ready')
    })
  })
})
