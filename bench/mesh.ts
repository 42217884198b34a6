/**
 * N in-process nodes on loopback (default 50), the way `plusone daemon` wires them: capacity
 * records in the DHT, bootstrap redial, gossipsub with a topic allow-list. Prints, from one run:
 *
 * - converge: time from the first node's start until every node's capacity record is findable
 *   from every other node (all N·(N-1) pairs, checked with at most PROBE_CONCURRENCY lookups in
 *   flight across the whole mesh, so the measurement does not swamp the mesh it measures);
 * - DHT get latency p50/p99: sequential CapacityService.find of random pairs after convergence;
 * - gossipsub delivery to all N-1 subscribers p50/p99 (one publisher, one message at a time);
 * - RSS per node: (process RSS after the run − before the first node) / N.
 *
 *   npm run build && node --import ./dist/src/polyfill.js dist/bench/mesh.js [N] [--profile P]
 *
 * `--profile sim` (the default) uses the DHT parameters meant for many nodes sharing one CPU
 * (see SIMULATION_DHT in src/node); `--profile real` uses the defaults a real deployment gets.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Message } from '@libp2p/gossipsub'
import { type Capacity, CapacityService } from '../src/capacity/index.js'
import { KeepConnected } from '../src/node/keep-connected.js'
import { createNode, type DhtTuning, type PlusoneNode, SIMULATION_DHT } from '../src/node/index.js'

const args = process.argv.slice(2)
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 50)
const PROFILE = args[args.indexOf('--profile') + 1] === 'real' && args.includes('--profile') ? 'real' : 'sim'
const DHT: DhtTuning | undefined = PROFILE === 'sim' ? { ...SIMULATION_DHT } : undefined

const TOPIC = 'plusone/bench/1'
const BOOTSTRAP_PEERS = 3
/** Lookups in flight at once across the whole mesh while measuring convergence. */
const PROBE_CONCURRENCY = 8
const PROBE_TIMEOUT_MS = 5_000
const CONVERGE_LIMIT_MS = 90_000
const PASS_PAUSE_MS = 100
const GET_SAMPLES = 200
const GET_TIMEOUT_MS = 5_000
const GETS_LIMIT_MS = 30_000
const GOSSIP_MESSAGES = 50
const GOSSIP_TIMEOUT_MS = 2_000
const GOSSIP_GAP_MS = 20
const GOSSIP_LIMIT_MS = 30_000
const GOSSIP_READY_LIMIT_MS = 10_000
const STOP_LIMIT_MS = 10_000

const TARGET = { convergeMs: 10_000, getP50Ms: 50, gossipP99Ms: 100, rssPerNodeMB: 10 }

interface BenchNode {
  node: PlusoneNode
  capacity: CapacityService
  keep: KeepConnected
  id: string
}

/** kad-dht's class has a routing table; its exported interface does not say so. */
function routingTableSize(node: PlusoneNode): number {
  return (node.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
}

/** Gossipsub's class reports its mesh; its exported interface does not. */
function meshPeers(node: PlusoneNode): number {
  return (node.services.pubsub as unknown as { getMeshPeers(topic: string): string[] }).getMeshPeers(TOPIC)
    .length
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

function pick<T>(list: T[], count: number): T[] {
  const copy = [...list]
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[copy[i], copy[j]] = [copy[j], copy[i]]
  }
  return copy.slice(0, count)
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight. */
async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++])
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
}

async function startNodes(): Promise<BenchNode[]> {
  const nodes: BenchNode[] = []
  for (let i = 0; i < N; i++) {
    const privateKey = await generateKeyPair('Ed25519')
    // each node joins through up to three random earlier nodes, as operators would
    const bootstrap = pick(nodes, BOOTSTRAP_PEERS).map((n) => n.node.getMultiaddrs()[0].toString())
    const node = await createNode({
      privateKey,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap,
      mdns: false,
      topics: [TOPIC],
      dht: DHT,
    })
    const keep = new KeepConnected(node, bootstrap, node.logger)
    keep.start()
    const capacity = new CapacityService(
      {
        privateKey,
        peerId: node.peerId,
        dht: node.services.dht,
        logger: node.logger,
        connectedPeers: () => node.getPeers(),
        onPeerConnect: (fn) => {
          node.addEventListener('peer:connect', fn)
          return () => node.removeEventListener('peer:connect', fn)
        },
      },
      { offer: { cores: 2, memoryMB: 1024, features: ['wasm'], price: 1, maxTasks: 2 }, version: 'bench' },
    )
    capacity.start()
    node.services.pubsub.subscribe(TOPIC)
    nodes.push({ node, capacity, keep, id: node.peerId.toString() })
  }
  return nodes
}

interface Converge {
  ms?: number
  allPublishedMs?: number
  probes: number
  found: number
  pairs: number
}

/**
 * Polls every (finder, owner) pair until the owner's record is found, in passes over the pairs
 * still missing, PROBE_CONCURRENCY lookups at a time. A pair found stays found (records live
 * 30 minutes), so the time the last pair is found bounds convergence from above; a pass over the
 * pairs that remain is short once most are found.
 */
async function measureConvergence(nodes: BenchNode[], t0: number): Promise<Converge> {
  const missing = new Map<string, [BenchNode, BenchNode]>()
  for (const finder of nodes) {
    for (const owner of nodes) if (finder !== owner) missing.set(`${finder.id}/${owner.id}`, [finder, owner])
  }
  const res: Converge = { probes: 0, found: 0, pairs: missing.size }
  const deadline = t0 + CONVERGE_LIMIT_MS
  let lastProgress = 0
  while (missing.size > 0 && Date.now() < deadline) {
    if (res.allPublishedMs == null && nodes.every((n) => n.capacity.current != null)) {
      res.allPublishedMs = Date.now() - t0
    }
    // only look for records whose owner says it has published; the rest cannot be found yet
    const pass = pick(
      [...missing].filter(([, [, owner]]) => owner.capacity.current != null),
      missing.size,
    )
    await pool(pass, PROBE_CONCURRENCY, async ([pair, [finder, owner]]) => {
      if (Date.now() >= deadline) return
      res.probes++
      const cap = await finder.capacity
        .find(owner.id, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
        .catch(() => undefined)
      if (cap != null && missing.delete(pair)) res.found++
    })
    if (Date.now() - lastProgress > 2_000) {
      lastProgress = Date.now()
      progress(`${res.found}/${res.pairs} pairs found after ${res.probes} lookups`)
    }
    if (missing.size > 0) await sleep(PASS_PAUSE_MS)
  }
  if (missing.size === 0) res.ms = Date.now() - t0
  return res
}

interface Gets {
  ms: number[]
  misses: number
}

/** Sequential lookups of random pairs through CapacityService.find, as `plusone nodes` does them. */
async function measureGets(nodes: BenchNode[]): Promise<Gets> {
  const res: Gets = { ms: [], misses: 0 }
  const deadline = Date.now() + GETS_LIMIT_MS
  for (let i = 0; i < GET_SAMPLES && Date.now() < deadline; i++) {
    const [finder, owner] = pick(nodes, 2)
    const started = performance.now()
    const cap = await finder.capacity
      .find(owner.id, { signal: AbortSignal.timeout(GET_TIMEOUT_MS) })
      .catch(() => undefined)
    if (cap == null) res.misses++
    else res.ms.push(performance.now() - started)
  }
  res.ms.sort((a, b) => a - b)
  return res
}

interface Gossip {
  allMs: number[]
  eachMs: number[]
  incomplete: number
  /** Fewest subscribers a message reached. */
  fewest: number
  readyMs: number
}

/** Publishes from node 0, one message at a time, and times delivery to every other node. */
async function measureGossip(nodes: BenchNode[]): Promise<Gossip> {
  const publisher = nodes[0]
  const readyStart = Date.now()
  // wait (bounded) until every node has a mesh peer on the topic, so delivery is not timed
  // against gossipsub's first heartbeat
  while (Date.now() - readyStart < GOSSIP_READY_LIMIT_MS) {
    if (nodes.every((n) => meshPeers(n.node) > 0)) break
    await sleep(50)
  }
  const res: Gossip = {
    allMs: [],
    eachMs: [],
    incomplete: 0,
    fewest: nodes.length - 1,
    readyMs: Date.now() - readyStart,
  }
  let current: { seq: number; sentAt: number; seen: Set<string>; all: () => void } | undefined
  const listeners = nodes.slice(1).map((n) => {
    const onMessage = (evt: CustomEvent<Message>): void => {
      if (evt.detail.topic !== TOPIC || current == null) return
      const seq = new DataView(evt.detail.data.buffer, evt.detail.data.byteOffset).getUint32(0)
      if (seq !== current.seq || current.seen.has(n.id)) return
      current.seen.add(n.id)
      res.eachMs.push(performance.now() - current.sentAt)
      if (current.seen.size === nodes.length - 1) current.all()
    }
    n.node.services.pubsub.addEventListener('message', onMessage)
    return () => n.node.services.pubsub.removeEventListener('message', onMessage)
  })
  try {
    const deadline = Date.now() + GOSSIP_LIMIT_MS
    for (let seq = 1; seq <= GOSSIP_MESSAGES && Date.now() < deadline; seq++) {
      const data = new Uint8Array(64)
      new DataView(data.buffer).setUint32(0, seq)
      let timer: NodeJS.Timeout | undefined
      const seen = new Set<string>()
      const sentAt = performance.now()
      const all = new Promise<void>((resolve) => {
        current = { seq, sentAt, seen, all: resolve }
        timer = setTimeout(resolve, GOSSIP_TIMEOUT_MS)
      })
      await publisher.node.services.pubsub.publish(TOPIC, data)
      await all
      clearTimeout(timer)
      res.fewest = Math.min(res.fewest, seen.size)
      if (seen.size === nodes.length - 1) res.allMs.push(performance.now() - sentAt)
      else res.incomplete++
      await sleep(GOSSIP_GAP_MS)
    }
  } finally {
    current = undefined
    for (const off of listeners) off()
  }
  res.allMs.sort((a, b) => a - b)
  res.eachMs.sort((a, b) => a - b)
  return res
}

async function stopAll(nodes: BenchNode[]): Promise<boolean> {
  const stop = Promise.all(
    nodes.map(async (n) => {
      n.keep.stop()
      await n.capacity.stop()
      await n.node.stop()
    }),
  ).then(() => true)
  return Promise.race([stop, sleep(STOP_LIMIT_MS).then(() => false)])
}

function row(name: string, value: string, target: string, ok: boolean | undefined): string {
  const verdict = ok == null ? '' : ok ? 'ok' : 'MISSED'
  return `${name.padEnd(34)} ${value.padEnd(26)} ${target.padEnd(12)} ${verdict}`
}

const ms = (v: number | undefined): string =>
  v == null || Number.isNaN(v) ? '—' : `${v.toFixed(v < 10 ? 1 : 0)} ms`

/** Progress on stderr, so a slow phase shows where the time goes. */
const progress = (what: string): void => {
  process.stderr.write(`[${(performance.now() / 1000).toFixed(1)} s] ${what}\n`)
}

async function main(): Promise<void> {
  console.log(
    `mesh bench: ${N} nodes in one process on loopback, DHT profile "${PROFILE}" ${JSON.stringify(DHT ?? {})}`,
  )
  const lag = monitorEventLoopDelay({ resolution: 10 })
  const rssBefore = process.memoryUsage().rss
  const t0 = Date.now()
  lag.enable()
  const nodes = await startNodes()
  const startedMs = Date.now() - t0
  progress(`started ${N} nodes; measuring convergence`)
  const converge = await measureConvergence(nodes, t0)
  lag.disable()
  const lagP99 = lag.percentile(99) / 1e6
  const lagMax = lag.max / 1e6
  const connections = nodes.map((n) => n.node.getConnections().length)
  const routing = nodes.map((n) => routingTableSize(n.node))
  progress('converged; timing DHT gets')
  const gets = await measureGets(nodes)
  progress('timing gossip')
  const gossip = await measureGossip(nodes)
  const rssPerNodeMB = (process.memoryUsage().rss - rssBefore) / N / 2 ** 20
  const known: Capacity[] = nodes[0].capacity.known()
  const unpublished = nodes.filter((n) => n.capacity.current == null)
  if (unpublished.length > 0) {
    console.log(
      `never published: ${unpublished
        .map(
          (n) =>
            `${n.id.slice(-6)} (connections ${n.node.getConnections().length}, routing table ${routingTableSize(n.node)})`,
        )
        .join(', ')}`,
    )
  }

  const avg = (xs: number[]): string => (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)
  console.log(
    `started ${N} nodes in ${startedMs} ms; all records published at ${ms(converge.allPublishedMs)}; ` +
      `connections/node avg ${avg(connections)} (min ${Math.min(...connections)}, max ${Math.max(...connections)}); ` +
      `routing table avg ${avg(routing)}; event-loop lag while converging p99 ${lagP99.toFixed(0)} ms, max ${lagMax.toFixed(0)} ms`,
  )
  console.log(
    `convergence check: ${converge.found}/${converge.pairs} pairs found with ${converge.probes} lookups, ` +
      `${PROBE_CONCURRENCY} in flight; node 0 holds ${known.length} records in its cache`,
  )
  console.log(
    `gets: ${gets.ms.length} found, ${gets.misses} missed; ` +
      `gossip: mesh ready after ${gossip.readyMs} ms, ${gossip.allMs.length}/${GOSSIP_MESSAGES} messages reached all ${N - 1} subscribers (the worst reached ${gossip.fewest}); ` +
      `mesh peers per node min ${Math.min(...nodes.map((n) => meshPeers(n.node)))}`,
  )
  console.log()
  console.log(row('figure', 'measured', 'target', undefined))
  console.log(
    row(
      'converge (all records, all nodes)',
      converge.ms == null ? `not within ${CONVERGE_LIMIT_MS / 1000} s` : ms(converge.ms),
      `< ${TARGET.convergeMs / 1000} s`,
      converge.ms != null && converge.ms < TARGET.convergeMs,
    ),
  )
  const getP50 = gets.misses > 0 ? Number.POSITIVE_INFINITY : percentile(gets.ms, 50)
  console.log(
    row(
      'DHT get p50 / p99',
      `${ms(percentile(gets.ms, 50))} / ${ms(percentile(gets.ms, 99))}${gets.misses > 0 ? ` (${gets.misses} missed)` : ''}`,
      `p50 ≤ ${TARGET.getP50Ms} ms`,
      getP50 <= TARGET.getP50Ms,
    ),
  )
  const gossipP99 = gossip.incomplete > 0 ? Number.POSITIVE_INFINITY : percentile(gossip.allMs, 99)
  console.log(
    row(
      `gossip to all ${N - 1} p50 / p99`,
      `${ms(percentile(gossip.allMs, 50))} / ${gossip.incomplete > 0 ? `${gossip.incomplete} incomplete` : ms(gossipP99)}`,
      `p99 ≤ ${TARGET.gossipP99Ms} ms`,
      gossipP99 <= TARGET.gossipP99Ms,
    ),
  )
  console.log(
    row(
      'gossip, each delivery p50 / p99',
      `${ms(percentile(gossip.eachMs, 50))} / ${ms(percentile(gossip.eachMs, 99))}`,
      '',
      undefined,
    ),
  )
  console.log(
    row(
      'RSS per node',
      `${rssPerNodeMB.toFixed(1)} MB`,
      `≤ ${TARGET.rssPerNodeMB} MB`,
      rssPerNodeMB <= TARGET.rssPerNodeMB,
    ),
  )
  const stopStarted = Date.now()
  const stopped = await stopAll(nodes)
  console.log(`stopped ${N} nodes in ${Date.now() - stopStarted} ms${stopped ? '' : ' (gave up waiting)'}`)
}

// libp2p unrefs its sockets and AbortSignal.timeout does not hold the process open: keep it alive
// while the bench runs, and give up loudly if a phase ever hangs past every bound above
const HARD_LIMIT_MS = CONVERGE_LIMIT_MS + GETS_LIMIT_MS + GOSSIP_LIMIT_MS + GOSSIP_READY_LIMIT_MS + 60_000
const alive = setInterval(() => {}, 1_000)
const hardStop = setTimeout(() => {
  console.error(`mesh bench: gave up after ${HARD_LIMIT_MS / 1000} s`)
  process.exit(2)
}, HARD_LIMIT_MS)
main().then(
  () => {
    clearInterval(alive)
    clearTimeout(hardStop)
    process.exit(0)
  },
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
