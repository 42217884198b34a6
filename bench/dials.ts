/**
 * What one connection per peer pair saves while a mesh starts (issue 12 item 2). N nodes in one
 * process on loopback (default 10) all dial each other at the same moment — what mDNS does on a
 * LAN, or a bootstrap list meeting the DHT — first with every connection kept (`dedupe: false`,
 * the baseline: main before this change), then with redundant ones closed (ours), alternating
 * for `rounds` rounds on fresh nodes. Prints per configuration (median of the rounds):
 *
 * - connections opened (each one a noise handshake, identify and stream set-up on both ends);
 * - connections held once the mesh has settled, and how many pairs hold more than one;
 * - CPU of the whole process over the first `startMs` from the first dial (handshakes,
 *   identify, gossipsub and DHT set-up on every connection; with the dedupe also its drain,
 *   close and re-identify), and per second over the `windowMs` after that (what the
 *   connections held cost while the mesh idles);
 *
 * and the ratio ours/baseline.
 *
 *   npm run build && node --import ./dist/src/polyfill.js dist/bench/dials.js [N] [rounds] [startMs] [windowMs]
 */
import { setMaxListeners } from 'node:events'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection } from '@libp2p/interface'
import { createNode, type PlusoneNode, SIMULATION_DHT } from '../src/node/index.js'

const args = process.argv.slice(2).filter((a) => /^\d+$/.test(a))
const N = Number(args[0] ?? 10)
const ROUNDS = Number(args[1] ?? 3)
/**
 * Both configurations are measured over the same windows from the first dial: the start
 * [0, START_MS) and the steady state [START_MS, START_MS + WINDOW_MS), when the connections
 * held keep running (pings, gossip heartbeats, DHT refreshes).
 */
const START_MS = Number(args[2] ?? 15_000)
const WINDOW_MS = Number(args[3] ?? 10_000)
const SETTLE_LIMIT_MS = START_MS
const TOPIC = 'plusone/bench/dials'

interface Figures {
  opened: number
  held: number
  pairsWithDuplicates: number
  /** Pairs with a connection open at both ends at the end (dials can fail on a loaded machine). */
  pairsConnected: number
  /** Redundant connections closed with streams still open when the drain's bound came. */
  cutShort: number
  /** Over the first START_MS from the first dial. */
  startCpuMs: number
  /** Per second, over the window after settling. */
  steadyCpuMs: number
  settleMs: number
}

async function run(dedupe: boolean): Promise<Figures> {
  const nodes: PlusoneNode[] = []
  for (let i = 0; i < N; i++) {
    nodes.push(
      await createNode({
        privateKey: await generateKeyPair('Ed25519'),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: false,
        topics: [TOPIC],
        dht: { ...SIMULATION_DHT },
        dedupe,
      }),
    )
  }
  for (const n of nodes) n.services.pubsub.subscribe(TOPIC)
  let opened = 0
  const count = (): void => {
    opened++
  }
  for (const n of nodes) n.addEventListener('connection:open', count)
  const pairs = nodes.flatMap((a, i) => nodes.slice(i + 1).map((b) => [a, b] as const))
  const openTo = (a: PlusoneNode, b: PlusoneNode): Connection[] =>
    a.getConnections(b.peerId).filter((c) => c.status === 'open')
  const signal = AbortSignal.timeout(SETTLE_LIMIT_MS)
  setMaxListeners(Number.POSITIVE_INFINITY, signal)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  // every node dials every other at the same moment
  await Promise.all(
    nodes.flatMap((a) =>
      nodes
        .filter((b) => b !== a)
        .map((b) => a.dial(b.getMultiaddrs()[0], { signal }).catch(() => undefined)),
    ),
  )
  // settled: every dial has returned and (with the dedupe) no pair holds two connections
  const settled = (): boolean =>
    !dedupe || pairs.every(([a, b]) => openTo(a, b).length <= 1 && openTo(b, a).length <= 1)
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (!settled() && !signal.aborted) return
      for (const n of nodes) n.removeEventListener('connection:close', check)
      signal.removeEventListener('abort', check)
      resolve()
    }
    for (const n of nodes) n.addEventListener('connection:close', check)
    signal.addEventListener('abort', check)
    check()
  })
  const settleMs = performance.now() - t0
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, START_MS - settleMs)))
  const start = process.cpuUsage(cpu0)
  const cpu1 = process.cpuUsage()
  await new Promise((resolve) => setTimeout(resolve, WINDOW_MS))
  const steady = process.cpuUsage(cpu1)
  for (const n of nodes) n.removeEventListener('connection:open', count)
  const held =
    nodes.reduce((sum, n) => sum + n.getConnections().filter((c) => c.status === 'open').length, 0) / 2
  const pairsWithDuplicates = pairs.filter(([a, b]) => openTo(a, b).length > 1).length
  const cutShort = nodes.reduce((sum, n) => sum + (n.services.dedupe?.stats.cutShort ?? 0), 0)
  const pairsConnected = pairs.filter(([a, b]) => openTo(a, b).length > 0 && openTo(b, a).length > 0).length
  await Promise.all(nodes.map((n) => n.stop()))
  // each connection opens once at each end
  return {
    opened: opened / 2,
    held,
    pairsWithDuplicates,
    pairsConnected,
    cutShort,
    startCpuMs: (start.user + start.system) / 1000,
    steadyCpuMs: (steady.user + steady.system) / WINDOW_MS,
    settleMs,
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]

async function main(): Promise<void> {
  const got = { baseline: [] as Figures[], ours: [] as Figures[] }
  // a warm-up round (JIT, key caches) that is not counted
  await run(true)
  for (let r = 0; r < ROUNDS; r++) {
    got.baseline.push(await run(false))
    got.ours.push(await run(true))
    process.stderr.write(
      `round ${r + 1}: ${JSON.stringify({ baseline: got.baseline[r], ours: got.ours[r] })}\n`,
    )
  }
  const pairs = (N * (N - 1)) / 2
  console.log(
    `dials bench: ${N} nodes (${pairs} pairs) all dialling each other at once on loopback; ` +
      `median of ${ROUNDS} alternating rounds`,
  )
  const rows: Array<[string, (f: Figures) => number, string]> = [
    ['connections opened', (f) => f.opened, ''],
    ['connections held after settling', (f) => f.held, ''],
    ['pairs connected at both ends', (f) => f.pairsConnected, ''],
    ['pairs with more than one connection', (f) => f.pairsWithDuplicates, ''],
    ['closed before their streams finished', (f) => f.cutShort, ''],
    [`CPU over the first ${START_MS / 1000} s`, (f) => f.startCpuMs, 'ms'],
    ['— per pair', (f) => f.startCpuMs / pairs, 'ms'],
    [`CPU per second, ${START_MS / 1000}–${(START_MS + WINDOW_MS) / 1000} s`, (f) => f.steadyCpuMs, 'ms'],
    ['time until settled', (f) => f.settleMs, 'ms'],
  ]
  console.log(`${'figure'.padEnd(40)} ${'baseline'.padStart(10)} ${'ours'.padStart(10)}  ratio`)
  for (const [name, read, unit] of rows) {
    const b = median(got.baseline.map(read))
    const o = median(got.ours.map(read))
    const label = unit === '' ? name : `${name} (${unit})`
    console.log(
      `${label.padEnd(40)} ${b.toFixed(1).padStart(10)} ${o.toFixed(1).padStart(10)}  ${b === 0 ? '—' : (o / b).toFixed(2)}`,
    )
  }
}

const alive = setInterval(() => {}, 1_000)
main().then(
  () => {
    clearInterval(alive)
    process.exit(0)
  },
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
