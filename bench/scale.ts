/**
 * The scale simulator (issue 14): N nodes on virtual time, the real submitter TaskMachine (with its
 * QuorumTask) deciding every task, and a dissemination layer modelled message by message.
 *
 *   node --import ./dist/src/polyfill.js dist/bench/scale.js [--nodes 10,100,1000,10000] [--json]
 *
 * Two designs run side by side for each N:
 * - `today`: one gossip topic for every announcement (gossipsub: flood-publish to the publisher's
 *   connected subscribers, then each node forwards to its mesh peers, duplicates counted), and
 *   executors bid on a first round with probability min(1, (2k+3)/subscribers they see); receipts
 *   gossiped to and stored by every node.
 * - `shards`: one topic per shard, S = 2^⌈log2(N / 64)⌉ shards, each node subscribed to its home
 *   shard; a task is gossiped in its submitter's shard only, and bid on with probability
 *   min(1, (2k+3)/shard peers a node sees, at most 16 of its 32 connections).
 * - `invite` (docs/SCALE.md): the submitter invites 2·need+3 candidates per round, chosen by
 *   rendezvous hash from a bounded view of capacity records (VIEW peers, refreshed by a DHT random
 *   walk every minute — that walk is counted, with hops growing as log N); only invitees bid;
 *   receipts go to the parties only, plus a bounded summary.
 *
 * Every node submits tasks at the same rate; a task is k=3, runs RUN_MS, and every executor is
 * honest. Each message takes a hop latency (20–40 ms) and SERVICE_MS of its receiver's time, so a
 * bid storm queues at the submitter. Latencies are simulated milliseconds from submit to accept.
 */
import { blobCidOf } from '../src/blobs/index.js'
import { chooseCandidates, invitationsFor } from '../src/market/candidates.js'
import { BID_OVERSUBSCRIPTION, BID_SPARE } from '../src/market/executor.js'
import type { Claim, TaskSpec } from '../src/market/spec.js'
import type { TaskEffect, TaskEvent } from '../src/market/task-events.js'
import { defaultRank, TaskMachine, type TaskMachineSettings } from '../src/market/task-machine.js'

type Design = 'today' | 'shards' | 'invite'

const K = 3
/** Tasks each node submits per second. */
const TASK_RATE_PER_NODE = 0.05
/** Tasks simulated per N and design (the window is TASKS / (N × rate)). */
const TASKS = 400
const RUN_MS = 1_000
const SERVICE_MS = 0.5
/** Connected topic peers per node today (the estimate: ~50 in a large mesh). */
const TODAY_CONNECTIONS = 50
/** Each node opens mesh links to this many random others (average gossipsub mesh degree ≈ 2×). */
const MESH_LINKS = 3
/** Target members per topic shard in the `shards` design, and the shard peers a node sees. */
const SHARD_TARGET = 64
const SHARD_VISIBLE = 16
/** Candidate view per node in the invite design, and its refresh period. */
const VIEW = 64
const REFRESH_MS = 60_000
/** DHT lookups query α peers per hop. */
const ALPHA = 3
/** Receipts a node keeps for reputation beyond its own dealings (the bounded summary). */
const SUMMARY_RECEIPTS = 256
const TICK_MS = 200

const SETTINGS: TaskMachineSettings = {
  bidWindowMaxMs: 100,
  bidWindowMinMs: 3,
  giveUpAfterMs: 120_000,
  stuckAfterMs: 5_000,
  reannounceMs: 1_000,
  autoReplicas: 3,
  rank: defaultRank,
  maxAwardsPerPrefix: undefined,
}

export interface ScaleRow {
  design: Design
  nodes: number
  tasks: number
  messagesPerTask: number
  announcementsPerNodePerTask: number
  bidsPerTask: number
  executionsPerTask: number
  p50Ms: number
  p99Ms: number
  inboundPerNodePerSec: number
  /** Part of inboundPerNodePerSec spent keeping the candidate view (DHT walks). */
  maintenancePerNodePerSec: number
  /** After one hour at this task rate. */
  receiptsStoredPerNode: number
  rssMB: number
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A min-heap of timed callbacks: the virtual clock. */
class Clock {
  now = 0
  #seq = 0
  #heap: Array<{ at: number; seq: number; fn: () => void }> = []

  at(at: number, fn: () => void): void {
    const h = this.#heap
    h.push({ at: Math.max(at, this.now), seq: this.#seq++, fn })
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (this.#less(h[p], h[i])) break
      ;[h[p], h[i]] = [h[i], h[p]]
      i = p
    }
  }

  run(): void {
    const h = this.#heap
    while (h.length > 0) {
      const top = h[0]
      const last = h.pop()!
      if (h.length > 0) {
        h[0] = last
        let i = 0
        for (;;) {
          const l = 2 * i + 1
          const r = l + 1
          let m = i
          if (l < h.length && this.#less(h[l], h[m])) m = l
          if (r < h.length && this.#less(h[r], h[m])) m = r
          if (m === i) break
          ;[h[m], h[i]] = [h[i], h[m]]
          i = m
        }
      }
      this.now = top.at
      top.fn()
    }
  }

  #less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }
}

interface SimTask {
  machine: TaskMachine
  submitter: number
  submittedAt: number
  /** Pending bid replies: bid id → executor. */
  bids: Map<number, number>
  timers: Map<string, number>
  invited: Set<string>
  done: boolean
}

function simulate(n: number, design: Design, seed: number): ScaleRow {
  const rng = mulberry32(seed)
  const clock = new Clock()
  const hop = (): number => 20 + 20 * rng()
  const busyUntil = new Float64Array(n)
  const counts = { messages: 0, announcements: 0, bids: 0, awards: 0, receiptsStored: 0 }
  const latencies: number[] = []

  // today's gossip mesh on the one topic: undirected random links
  const adjacency: number[][] = Array.from({ length: n }, () => [])
  if (design === 'today') {
    for (let i = 0; i < n; i++) {
      for (let l = 0; l < Math.min(MESH_LINKS, n - 1); l++) {
        let j = Math.floor(rng() * n)
        if (j === i) j = (j + 1) % n
        adjacency[i].push(j)
        adjacency[j].push(i)
      }
    }
  }
  // the shards design: home shard by node index (a hash of the peer id in the real thing)
  const shards = design === 'shards' ? 2 ** Math.max(0, Math.ceil(Math.log2(n / SHARD_TARGET))) : 1
  const members: number[][] = Array.from({ length: shards }, () => [])
  for (let i = 0; i < n; i++) members[i % shards].push(i)
  if (design === 'shards') {
    for (const m of members) {
      for (const i of m) {
        for (let l = 0; l < Math.min(MESH_LINKS, m.length - 1); l++) {
          let j = m[Math.floor(rng() * m.length)]
          if (j === i) j = m[(m.indexOf(i) + 1) % m.length]
          adjacency[i].push(j)
          adjacency[j].push(i)
        }
      }
    }
  }
  const connections = Math.min(n - 1, TODAY_CONNECTIONS)
  const randomPeers = (self: number, count: number): number[] => {
    const out = new Set<number>()
    while (out.size < Math.min(count, n - 1)) {
      const j = Math.floor(rng() * n)
      if (j !== self) out.add(j)
    }
    return [...out]
  }

  // the invite design's candidate views, refreshed by DHT random walks
  const views: Array<{ at: number; peers: string[] } | undefined> = new Array(n)
  const walkHops = Math.ceil(Math.log2(Math.max(2, n)) / 3) + 1
  const walkMessages = 2 * ALPHA * walkHops + 2 * (VIEW / 4)
  const viewOf = (i: number): string[] => {
    const v = views[i]
    if (v !== undefined && clock.now - v.at < REFRESH_MS) return v.peers
    const peers = randomPeers(i, VIEW).map((j) => `n${j}`)
    views[i] = { at: clock.now, peers }
    return peers
  }

  /** One message from → to: hop latency, then the receiver's service time. */
  const send = (to: number, fn: () => void): void => {
    counts.messages++
    const arrive = clock.now + hop()
    clock.at(arrive, () => {
      const start = Math.max(clock.now, busyUntil[to])
      busyUntil[to] = start + SERVICE_MS
      clock.at(busyUntil[to], fn)
    })
  }

  const tasks: SimTask[] = []
  const cid = blobCidOf(new Uint8Array([1]))
  let nextBid = 1

  const feed = (t: SimTask, event: TaskEvent): void => {
    for (const e of t.machine.handle(event)) effect(t, e)
  }
  const tick = (t: SimTask): void => {
    if (t.done) return
    feed(t, { type: 'tick', now: clock.now, known: [] })
    clock.at(clock.now + TICK_MS, () => tick(t))
  }

  /** An executor heard of a task (gossip or invitation) and bids with probability `p`. */
  const consider = (t: SimTask, executor: number, p: number): void => {
    if (executor === t.submitter || (p < 1 && rng() >= p)) return
    counts.bids++
    const bidId = nextBid++
    t.bids.set(bidId, executor)
    send(t.submitter, () =>
      feed(t, {
        type: 'bid',
        now: clock.now,
        bid: { bidId, peer: `n${executor}`, price: 1, latencyMs: 0, freeSlots: 1 },
      }),
    )
  }

  /** Gossip on one topic: flood-publish to the publisher's connected subscribers, then mesh forwarding. */
  const publishGossip = (t: SimTask, round: number): void => {
    const shard = members[t.submitter % shards]
    const visible = design === 'today' ? connections : Math.min(shard.length - 1, SHARD_VISIBLE)
    const p = round <= 1 ? Math.min(1, (BID_OVERSUBSCRIPTION * K + BID_SPARE) / Math.max(1, visible - 1)) : 1
    const reached = new Map<number, number>([[t.submitter, clock.now]])
    const queue: number[] = []
    const first =
      design === 'today'
        ? randomPeers(t.submitter, connections)
        : shard.filter((j) => j !== t.submitter).slice(0, visible)
    for (const j of first) {
      counts.messages++
      counts.announcements++
      reached.set(j, clock.now + hop())
      queue.push(j)
    }
    for (let q = 0; q < queue.length; q++) {
      const i = queue[q]
      const at = reached.get(i)!
      for (const j of adjacency[i]) {
        counts.messages++
        counts.announcements++
        if (reached.has(j)) continue
        reached.set(j, at + hop())
        queue.push(j)
      }
    }
    for (const [i, at] of reached) if (i !== t.submitter) clock.at(at, () => consider(t, i, p))
  }

  const publishInvite = (t: SimTask): void => {
    const need = t.machine.view().need
    const chosen = chooseCandidates(
      t.machine.taskId,
      t.machine.view().record.round,
      viewOf(t.submitter),
      invitationsFor(need),
      t.invited,
    )
    for (const peer of chosen) {
      t.invited.add(peer)
      counts.announcements++
      const i = Number(peer.slice(1))
      send(i, () => consider(t, i, 1))
    }
  }

  const effect = (t: SimTask, e: TaskEffect): void => {
    switch (e.type) {
      case 'publish':
        if (e.cancelled) break
        if (design !== 'invite') publishGossip(t, e.round)
        else publishInvite(t)
        break
      case 'reply': {
        const executor = t.bids.get(e.bidId)!
        t.bids.delete(e.bidId)
        send(executor, () => {
          if (e.award == null) return
          counts.awards++
          clock.at(clock.now + RUN_MS, () => {
            const claim: Claim = {
              taskId: t.machine.taskId,
              executor: `n${executor}`,
              status: 'ok',
              fuelUsed: 1,
              outputHash: cid.multihash.digest,
              outputCid: cid,
              outputBytes: 1,
              resultHash: 'honest',
            }
            send(t.submitter, () =>
              feed(t, {
                type: 'claim',
                now: clock.now,
                requestId: executor,
                claim,
                signed: new Uint8Array(),
              }),
            )
          })
        })
        break
      }
      case 'ack':
        send(Number(e.requestId), () => {})
        break
      case 'setTimer': {
        const name = e.timer.kind === 'window' ? 'window' : `deadline:${e.timer.peer}`
        const token = nextBid++
        t.timers.set(name, token)
        clock.at(e.at, () => {
          if (t.timers.get(name) !== token) return
          t.timers.delete(name)
          feed(t, { type: 'timer', now: clock.now, timer: e.timer, at: e.at })
        })
        break
      }
      case 'clearTimer':
        t.timers.delete(e.timer.kind === 'window' ? 'window' : `deadline:${e.timer.peer}`)
        break
      case 'fetchOutput': {
        const holder = Number(e.peer.slice(1))
        send(holder, () =>
          send(t.submitter, () =>
            feed(t, { type: 'outputChecked', now: clock.now, peer: e.peer, outcome: 'ok' }),
          ),
        )
        break
      }
      case 'finished':
        latencies.push(clock.now - t.submittedAt)
        break
      case 'settle':
        for (const x of e.executors) {
          if (design === 'today') {
            // gossiped on the receipts topic: every node hears it (≈ one message per mesh link
            // direction plus the flood-publish) and stores it
            counts.messages += connections + 2 * MESH_LINKS * n - (n - 1)
            counts.receiptsStored += n
          } else {
            send(Number(x.peer.slice(1)), () => {})
            counts.receiptsStored += 2
          }
        }
        break
      case 'forget':
        t.done = true
        break
      default:
        break
    }
  }

  const windowMs = (TASKS / (n * TASK_RATE_PER_NODE)) * 1000
  let at = 0
  for (let i = 0; i < TASKS; i++) {
    at += (-Math.log(1 - rng()) / (n * TASK_RATE_PER_NODE)) * 1000
    const submitter = Math.floor(rng() * n)
    clock.at(at, () => {
      const spec = specFor(i)
      const record = {
        taskId: `t${i}`,
        jobId: 'j',
        input: '',
        spec: '',
        round: 0,
        status: 'waiting' as const,
        createdAt: clock.now,
      }
      const t: SimTask = {
        machine: new TaskMachine(record, spec, SETTINGS, clock.now),
        submitter,
        submittedAt: clock.now,
        bids: new Map(),
        timers: new Map(),
        invited: new Set([`n${submitter}`]),
        done: false,
      }
      tasks.push(t)
      feed(t, { type: 'start', now: clock.now })
      tick(t)
    })
  }
  clock.run()
  latencies.sort((a, b) => a - b)
  const pct = (p: number): number =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0)
  const windowSec = Math.max(windowMs, at) / 1000
  const maintenancePerNodePerSec = walkMessages / (REFRESH_MS / 1000)
  const perHour = 3600 / windowSec
  return {
    design,
    nodes: n,
    tasks: TASKS,
    messagesPerTask: round2(counts.messages / TASKS),
    announcementsPerNodePerTask: round4(counts.announcements / TASKS / n),
    bidsPerTask: round2(counts.bids / TASKS),
    executionsPerTask: round2(counts.awards / TASKS),
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    inboundPerNodePerSec: round2(counts.messages / n / windowSec + maintenancePerNodePerSec),
    maintenancePerNodePerSec: round2(maintenancePerNodePerSec),
    receiptsStoredPerNode: Math.round(
      (counts.receiptsStored / n) * perHour + (design === 'today' ? 0 : SUMMARY_RECEIPTS),
    ),
    rssMB: Math.round(process.memoryUsage().rss / 1024 / 1024),
  }
}

function specFor(i: number): TaskSpec {
  const cid = blobCidOf(new Uint8Array([i & 255, i >> 8]))
  return {
    moduleCid: cid,
    inputCid: cid,
    fuel: 1,
    memoryBytes: 1,
    maxOutputBytes: 1,
    replicas: K,
    deadlineMs: 30_000,
    maxPrice: 10,
    jobId: 'j',
    nonce: new Uint8Array(16),
    submitter: 'n0',
    createdAt: 0,
    expiresAt: Number.MAX_SAFE_INTEGER,
  }
}

const round2 = (x: number): number => Math.round(x * 100) / 100
const round4 = (x: number): number => Math.round(x * 10_000) / 10_000

function parseArgs(argv: string[]): { nodes: number[]; json: boolean } {
  let nodes = [10, 100, 1_000, 10_000]
  let json = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--json') json = true
    else if (a === '--nodes') {
      nodes = (argv[++i] ?? '').split(',').map((s) => Number(s.trim()))
      if (nodes.length === 0 || nodes.some((x) => !Number.isSafeInteger(x) || x < 2))
        throw new Error('--nodes takes a comma-separated list of whole numbers ≥ 2, e.g. 10,100,1000')
    } else if (a === '--help' || a === '-h') {
      console.log(
        'usage: node --import ./dist/src/polyfill.js dist/bench/scale.js [--nodes 10,100,1000,10000] [--json]',
      )
      process.exit(0)
    } else throw new Error(`unknown argument ${a} (try --help)`)
  }
  return { nodes, json }
}

const COLUMNS: Array<keyof ScaleRow> = [
  'design',
  'nodes',
  'tasks',
  'messagesPerTask',
  'announcementsPerNodePerTask',
  'bidsPerTask',
  'executionsPerTask',
  'p50Ms',
  'p99Ms',
  'inboundPerNodePerSec',
  'receiptsStoredPerNode',
  'rssMB',
]

function table(rows: ScaleRow[]): string {
  const head = [
    'design',
    'nodes',
    'tasks',
    'msgs/task',
    'ann/node/task',
    'bids/task',
    'execs/task',
    'p50 ms',
    'p99 ms',
    'in/node/s',
    'receipts/node/h',
    'rss MB',
  ]
  const cells = rows.map((r) => COLUMNS.map((c) => String(r[c])))
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  const line = (c: string[]): string => c.map((x, i) => x.padStart(widths[i])).join('  ')
  return [line(head), ...cells.map(line)].join('\n')
}

function ratios(rows: ScaleRow[], design: Design): string {
  const mine = rows.filter((r) => r.design === design)
  const from = mine.find((r) => r.nodes === 100) ?? mine[0]
  const to = mine[mine.length - 1]
  if (from === undefined || to === undefined || from === to) return ''
  const r = (k: 'messagesPerTask' | 'bidsPerTask' | 'inboundPerNodePerSec' | 'p50Ms'): string =>
    (to[k] / Math.max(1e-9, from[k])).toFixed(2)
  return `${design}: N=${from.nodes} → ${to.nodes}: messages/task ×${r('messagesPerTask')}, bids/task ×${r('bidsPerTask')}, inbound/node/s ×${r('inboundPerNodePerSec')}, p50 ×${r('p50Ms')} (log N ×${(Math.log(to.nodes) / Math.log(from.nodes)).toFixed(2)})`
}

let args: ReturnType<typeof parseArgs>
try {
  args = parseArgs(process.argv.slice(2))
} catch (err) {
  console.error(`scale: ${(err as Error).message}`)
  process.exit(2)
}
const { nodes, json } = args
const rows: ScaleRow[] = []
for (const n of nodes) {
  for (const design of ['today', 'shards', 'invite'] as const) {
    const row = simulate(n, design, 14 + n)
    rows.push(row)
    if (!json) process.stderr.write(`  ${design} N=${n} done\n`)
  }
}
if (json) console.log(JSON.stringify(rows))
else {
  console.log(`k=${K}, ${TASK_RATE_PER_NODE} tasks/s per node, ${TASKS} tasks per row, virtual time\n`)
  console.log(table(rows))
  console.log()
  console.log(ratios(rows, 'today'))
  console.log(ratios(rows, 'shards'))
  console.log(ratios(rows, 'invite'))
  const at = (d: Design): ScaleRow | undefined => rows.filter((r) => r.design === d).at(-1)
  const t = at('today')
  const i = at('invite')
  if (t !== undefined && i !== undefined)
    console.log(
      `at N=${t.nodes}: invite/today messages/task ${(i.messagesPerTask / t.messagesPerTask).toFixed(4)}, bids/task ${(i.bidsPerTask / t.bidsPerTask).toFixed(4)}, p50 ${(i.p50Ms / t.p50Ms).toFixed(2)}`,
    )
}
