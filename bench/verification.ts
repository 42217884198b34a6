/**
 * The cost of verification on a mesh of daemons, and its latency against the in-process market.
 *
 *   npm run build && node --import ./dist/src/polyfill.js dist/bench/verification.js [tasks] [inFlight] [latencyTasks]
 *   ... dist/bench/verification.js --baseline ../base [tasks] [inFlight] [latencyTasks]   (bench/compare.ts)
 *
 * Throughput rows: executions per accepted task and latency per task for k=1, k=3 and `auto`
 * (adaptive replication), side by side, on a 10-node in-process mesh (loopback, built with
 * `startDaemon` like `plusone daemon`), without and with 2 `wrong-output` executors.
 * - Node 0 submits; the 9 others execute (in the faulty mesh, 2 of them lie on every task).
 * - Per row, `tasks` single-task jobs (default 100) of a primes task, `inFlight` at a time
 *   (default 8); latency is submitJob() → job done, every accepted output is compared with a local
 *   run. 8 jobs × 3 replicas of a CPU-bound task on 2 cores make these rows throughput-bound.
 * - The rows of one mesh run in order k=1, k=3, auto, so `auto` starts with the trust its
 *   executors earned in the k=3 row (default policy: 20 verified results, spot checks p = 0.1);
 *   a cold start costs k=3 for each executor's first 20 results.
 *
 * Latency row (issue 12's goal: daemons' p50 at k=3 ≤ 2× the in-process market's): one job at a
 * time, as bench/market.ts's latency phase — empty task, k=3, `latencyTasks` jobs (default 200)
 * — first on bench/market.ts's in-process market mesh (10 nodes, no ledger, settlement or DHT),
 * then on the fault-free daemon mesh after its throughput rows, in the same run; it prints both
 * p50s, their ratio and the CPU per task of each mesh (process time, all ten nodes).
 *
 * With `PLUSONE_BENCH_PROFILE=<name>.cpuprofile`, the latency row of each mesh is CPU-profiled
 * (main thread) into `<name>-market.cpuprofile` and `<name>-daemons.cpuprofile`.
 *
 * With `--baseline <dir>`, this same script measures both trees (the baseline's code is loaded
 * from `PLUSONE_BENCH_TREE`, see bench/compare.ts `sameBench`).
 */
import { loadavg } from 'node:os'
import type { Daemon } from '../src/daemon/index.js'
import type { Fault } from '../src/market/index.js'
import { baselineArg, benchModule, compare, figure } from './compare.js'
import { startProfile } from './profile.js'

const { baseline, rest } = baselineArg(process.argv.slice(2))
if (baseline != null) {
  const row = (mode: string, column: number): RegExp =>
    new RegExp(`^none\\s+${mode}\\s+${'\\S+\\s+'.repeat(column)}([\\d.]+)`, 'm')
  const latency = (mesh: string, what: string): RegExp => new RegExp(`${mesh}: .*${what} ([\\d.]+)`)
  await compare(
    'verification',
    rest,
    baseline,
    [
      figure('one at a time, k=3: in-process market p50', 'ms', 'lower', latency('in-process market', 'p50')),
      figure('one at a time, k=3: daemons p50', 'ms', 'lower', latency('daemons', 'p50')),
      figure('one at a time, k=3: daemons p99', 'ms', 'lower', latency('daemons', 'p99')),
      figure('daemons / in-process market p50 (goal ≤ 2)', '', 'lower', /in-process market p50: ([\d.]+)/),
      figure(
        'one at a time, k=3: in-process CPU per task',
        'ms',
        'lower',
        latency('in-process market', 'cpu'),
      ),
      figure('one at a time, k=3: daemons CPU per task', 'ms', 'lower', latency('daemons', 'cpu')),
      figure('no faults, k=1: p50', 'ms', 'lower', row('k=1', 5)),
      figure('no faults, k=3: p50', 'ms', 'lower', row('k=3', 5)),
      figure('no faults, k=3: p99', 'ms', 'lower', row('k=3', 6)),
      figure('no faults, k=3: tasks/s', '', 'higher', row('k=3', 7)),
    ],
    { sameBench: true },
  )
  process.exit(0)
}
// the code under test: this tree's, or the baseline's when bench/compare.ts runs this script for it
const { RECEIPTS_TOPIC } = (await import(
  benchModule('src/ledger/index.js')
)) as typeof import('../src/ledger/index.js')
const { TASKS_TOPIC } = (await import(
  benchModule('src/market/index.js')
)) as typeof import('../src/market/index.js')
const { runTask } = (await import(
  benchModule('src/runtime/index.js')
)) as typeof import('../src/runtime/index.js')
const { dec, enc, example, startMesh } = (await import(
  benchModule('test/market/helpers.js')
)) as typeof import('../test/market/helpers.js')
const { createMesh, fullyConnect } = (await import(
  benchModule('test/mesh.js')
)) as typeof import('../test/mesh.js')

const TASKS = Number(rest[0] ?? 100)
const IN_FLIGHT = Number(rest[1] ?? 8)
const LATENCY_TASKS = Number(rest[2] ?? 200)
const NODES = 10
const FAULTY = [8, 9]
const SPAN = 2_000
const FUEL = 50_000_000
const MEMORY_MB = 16
// generous: on a loaded shared machine connecting and settling can take minutes
const JOB_TIMEOUT_MS = 300_000
const CONNECT_TIMEOUT_MS = 300_000
const WARMUP_TASKS = 10

const module = example('primes')
const inputs = Array.from({ length: TASKS }, (_, i) => ({
  name: `r${i}`,
  bytes: enc(`${i * SPAN} ${(i + 1) * SPAN}`),
}))

interface Row {
  faults: string
  mode: string
  accepted: number
  failed: number
  wrong: number
  executionsPerTask: number
  singleReplica: number
  p50: number
  p99: number
  seconds: number
}

function pct(sorted: number[], p: number): number {
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function expectedOutputs(): Promise<string[]> {
  const out: string[] = []
  for (const i of inputs) {
    const o = await runTask({
      module,
      input: i.bytes,
      taskId: new Uint8Array(32),
      limits: { fuel: BigInt(FUEL), memoryBytes: MEMORY_MB * 1024 * 1024 },
    })
    out.push(dec(o.output))
  }
  return out
}

/** Runs `count` single-task jobs, `IN_FLIGHT` at a time (each bounded by JOB_TIMEOUT_MS). */
async function measure(
  submitter: Daemon,
  replicas: number | 'auto',
  count: number,
  expected: string[],
): Promise<Omit<Row, 'faults' | 'mode'>> {
  const awards = new Map<string, number>()
  const off = submitter.market.on((e) => {
    if (e.type === 'bid' && e.decision === 'award') awards.set(e.taskId, (awards.get(e.taskId) ?? 0) + 1)
  })
  const latencies: number[] = []
  let accepted = 0
  let failed = 0
  let wrong = 0
  let next = 0
  const t0 = performance.now()
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      const started = performance.now()
      const job = await submitter.market.submitJob({
        module,
        inputs: [inputs[i % inputs.length]],
        replicas,
        fuel: FUEL,
        memoryMB: MEMORY_MB,
        maxOutputBytes: 4096,
        deadlineMs: 10_000,
      })
      const view = await submitter.market.waitForJob(job.jobId, {
        signal: AbortSignal.timeout(JOB_TIMEOUT_MS),
      })
      latencies.push(performance.now() - started)
      if (view.status !== 'done') {
        failed++
        continue
      }
      accepted++
      const output = dec(await submitter.market.result(job.tasks[0].taskId))
      if (output !== expected[i % expected.length]) wrong++
    }
  }
  try {
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  } finally {
    off()
  }
  const seconds = (performance.now() - t0) / 1000
  latencies.sort((a, b) => a - b)
  const executions = [...awards.values()].reduce((a, b) => a + b, 0)
  return {
    accepted,
    failed,
    wrong,
    executionsPerTask: executions / Math.max(1, accepted),
    singleReplica: [...awards.values()].filter((n) => n === 1).length,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    seconds,
  }
}

/** One-at-a-time latency of a mesh, as bench/market.ts measures it. */
interface Latency {
  p50: number
  p99: number
  /** Process CPU (all nodes of the mesh, and libuv's threads) per task, ms. */
  cpuMs: number
}

/** The task of the latency row: bench/market.ts's (empty module, k=3). */
const LATENCY_SPEC = {
  replicas: 3,
  fuel: 1_000_000,
  memoryMB: 1,
  maxOutputBytes: 1024,
  deadlineMs: 10_000,
} as const
const LATENCY_WARMUP_TASKS = 20

/** Runs `count` single-task jobs of the empty module at k=3, one at a time, and times each. */
async function oneAtATime(market: Daemon['market'], count: number, tag: string): Promise<Latency> {
  const emptyModule = example('wat/empty')
  const run = async (i: number): Promise<number> => {
    const t0 = performance.now()
    const job = await market.submitJob({
      ...LATENCY_SPEC,
      module: emptyModule,
      inputs: [{ name: `${tag}${i}`, bytes: enc(`${tag} ${i}`) }],
    })
    const view = await market.waitForJob(job.jobId, { signal: AbortSignal.timeout(JOB_TIMEOUT_MS) })
    if (view.status !== 'done') throw new Error(`latency task ${i} on the ${tag} mesh: ${view.status}`)
    return performance.now() - t0
  }
  for (let i = 0; i < LATENCY_WARMUP_TASKS; i++) await run(-1 - i)
  const latencies: number[] = []
  const profile = process.env.PLUSONE_BENCH_PROFILE
  const profiler = await startProfile(profile?.replace(/(\.cpuprofile)?$/, `-${tag}.cpuprofile`))
  const cpu0 = process.cpuUsage()
  for (let i = 0; i < count; i++) latencies.push(await run(i))
  const cpu = process.cpuUsage(cpu0)
  await profiler?.()
  latencies.sort((a, b) => a - b)
  return { p50: pct(latencies, 50), p99: pct(latencies, 99), cpuMs: (cpu.user + cpu.system) / 1000 / count }
}

/** bench/market.ts's mesh: 10 market nodes in one process, node 0 submits, 9 execute. */
async function inProcessLatency(): Promise<Latency> {
  const mesh = await startMesh(
    [
      { executor: { enabled: false } },
      ...Array.from({ length: NODES - 1 }, () => ({ executor: { maxTasks: 64 } })),
    ],
    { timeoutMs: CONNECT_TIMEOUT_MS },
  )
  try {
    return await oneAtATime(mesh.nodes[0].market, LATENCY_TASKS, 'market')
  } finally {
    await mesh.stop()
  }
}

async function scenario(
  label: string,
  fault: Fault | undefined,
  expected: string[],
  latency?: (l: Latency) => void,
): Promise<Row[]> {
  const faults = Array.from({ length: NODES }, (_, i) =>
    fault !== undefined && FAULTY.includes(i) ? fault : undefined,
  )
  const mesh = await createMesh(NODES, { faults })
  const rows: Row[] = []
  try {
    // a dial can time out in its handshake on a loaded machine: try the whole mesh again
    for (let attempt = 1; ; attempt++) {
      try {
        await fullyConnect(mesh.daemons, [TASKS_TOPIC, RECEIPTS_TOPIC], CONNECT_TIMEOUT_MS)
        break
      } catch (err) {
        if (attempt >= 3) throw err
      }
    }
    const submitter = mesh.daemons[0]
    // warm-up: compile caches and connections (single replica: earns no trust for `auto`)
    await measure(submitter, 1, WARMUP_TASKS, expected)
    for (const [mode, replicas] of [
      ['k=1', 1],
      ['k=3', 3],
      ['auto', 'auto'],
    ] as const) {
      rows.push({ faults: label, mode, ...(await measure(submitter, replicas, TASKS, expected)) })
      process.stderr.write('.')
    }
    // after the throughput rows: a mesh in its steady state, as a long-running daemon's is
    if (latency != null) latency(await oneAtATime(submitter.market, LATENCY_TASKS, 'daemons'))
  } finally {
    await mesh.stop()
  }
  return rows
}

const expected = await expectedOutputs()
const inProcess = await inProcessLatency()
process.stderr.write('.')
let daemons: Latency | undefined
const rows = [
  ...(await scenario('none', undefined, expected, (l) => {
    daemons = l
  })),
  ...(await scenario('2 wrong-output', 'wrong-output', expected)),
]
process.stderr.write('\n')

const header = [
  'faults',
  'mode',
  'accepted',
  'failed',
  'wrong accepted',
  'executions/task',
  'single-replica',
  'p50 ms',
  'p99 ms',
  'tasks/s',
]
const table = rows.map((r) => [
  r.faults,
  r.mode,
  String(r.accepted),
  String(r.failed),
  String(r.wrong),
  r.executionsPerTask.toFixed(2),
  r.mode === 'auto' ? String(r.singleReplica) : '-',
  r.p50.toFixed(0),
  r.p99.toFixed(0),
  (TASKS / r.seconds).toFixed(1),
])
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)))
const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ')
console.log(
  `verification bench: ${NODES} nodes in one process (loopback), node 0 submits; primes over ${SPAN} numbers per task; ` +
    `${TASKS} single-task jobs per row, ${IN_FLIGHT} in flight; faulty mesh: nodes ${FAULTY.join(', ')} answer wrong`,
)
console.log(line(header))
for (const row of table) console.log(line(row))
for (const faults of ['none', '2 wrong-output']) {
  const get = (mode: string): Row => rows.find((r) => r.faults === faults && r.mode === mode)!
  const [k1, k3, auto] = [get('k=1'), get('k=3'), get('auto')]
  console.log(
    `${faults}: auto / k=3 executions ${(auto.executionsPerTask / k3.executionsPerTask).toFixed(2)}, ` +
      `p50 ${(auto.p50 / k3.p50).toFixed(2)}; k=3 / k=1 executions ${(k3.executionsPerTask / k1.executionsPerTask).toFixed(2)}, ` +
      `p50 ${(k3.p50 / k1.p50).toFixed(2)}`,
  )
}
console.log(
  'auto ran after k=3 on the same mesh, so honest executors started trusted (threshold: 20 verified results); ' +
    'expected cost once trusted: 1.2 executions per task (spot checks p = 0.1, k = 3)',
)
const show = (name: string, l: Latency): string =>
  `  ${name}: p50 ${l.p50.toFixed(1)} ms  p99 ${l.p99.toFixed(1)} ms  cpu ${l.cpuMs.toFixed(1)} ms/task`
console.log(
  `latency, one job at a time (empty task, k=3, ${LATENCY_TASKS} jobs after ${LATENCY_WARMUP_TASKS} of warm-up), ` +
    `same run, same process; cpu = process time per task, all ${NODES} nodes (load ${loadavg()[0].toFixed(1)}):`,
)
console.log(show('in-process market', inProcess))
if (daemons != null) {
  console.log(show('daemons', daemons))
  console.log(`daemons / in-process market p50: ${(daemons.p50 / inProcess.p50).toFixed(2)}   (goal ≤ 2)`)
}
