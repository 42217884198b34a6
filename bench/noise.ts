import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { ConnectionEncrypter, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { cachingNoiseCrypto } from '../src/node/index.js'
import { encrypter } from '../test/node/noise-helpers.js'
import { baselineArg, compare, figure } from './compare.js'

const { baseline, rest } = baselineArg(process.argv.slice(2))
if (baseline != null) {
  await compare('noise', rest, baseline, [
    figure('default crypto, CPU per handshake', 'ms', 'lower', /default crypto.*?([\d.]+) ms CPU/),
    figure('ours, CPU per handshake', 'ms', 'lower', /ours \(cached.*?([\d.]+) ms CPU/),
    figure('ours, wall per handshake', 'ms', 'lower', /ours \(cached.*?ms CPU\s+([\d.]+) ms wall/),
  ])
  process.exit(0)
}
const HANDSHAKES = Number(rest[0] ?? 300)
const ROUNDS = Number(rest[1] ?? 7)

interface Side {
  key: PrivateKey
  enc: ConnectionEncrypter
}

/** CPU microseconds per handshake (both sides) over `count` handshakes, and wall ms each. */
async function measure(a: Side, b: Side, count: number): Promise<{ cpuUs: number; wallMs: number }> {
  const remotePeer = peerIdFromPrivateKey(b.key)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < count; i++) {
    const [outbound, inbound] = multiaddrConnectionPair()
    await Promise.all([a.enc.secureOutbound(outbound, { remotePeer }), b.enc.secureInbound(inbound)])
    await Promise.all([outbound.close(), inbound.close()])
  }
  const cpu = process.cpuUsage(cpu0)
  return { cpuUs: (cpu.user + cpu.system) / count, wallMs: (performance.now() - t0) / count }
}

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]

const [keyA, keyB] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
const sides = {
  default: [
    { key: keyA, enc: encrypter(keyA, defaultCrypto) },
    { key: keyB, enc: encrypter(keyB, defaultCrypto) },
  ],
  ours: [
    { key: keyA, enc: encrypter(keyA, cachingNoiseCrypto()) },
    { key: keyB, enc: encrypter(keyB, cachingNoiseCrypto()) },
  ],
} as const
// warm-up: JIT, and the caches ours keeps
await measure(sides.default[0], sides.default[1], 50)
await measure(sides.ours[0], sides.ours[1], 50)

const results = { default: [] as number[], ours: [] as number[] }
const walls = { default: [] as number[], ours: [] as number[] }
for (let r = 0; r < ROUNDS; r++) {
  for (const name of ['default', 'ours'] as const) {
    const m = await measure(sides[name][0], sides[name][1], HANDSHAKES)
    results[name].push(m.cpuUs)
    walls[name].push(m.wallMs)
  }
}
const d = median(results.default)
const o = median(results.ours)
console.log(`noise XX handshake, both sides, in-memory pair; ${ROUNDS} rounds of ${HANDSHAKES}, median round`)
console.log(
  `  default crypto (@chainsafe/libp2p-noise)  ${(d / 1000).toFixed(3)} ms CPU  ${median(walls.default).toFixed(3)} ms wall`,
)
console.log(
  `  ours (cached X25519 keys, OpenSSL HKDF)   ${(o / 1000).toFixed(3)} ms CPU  ${median(walls.ours).toFixed(3)} ms wall`,
)
console.log(`  ratio ours/default                        ${(o / d).toFixed(3)}   (goal ≤ 0.5)`)
