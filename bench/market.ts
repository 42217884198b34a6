/**
 * Market latency and throughput on a 10-node in-process mesh (loopback), empty task, k=3.
 *
 *   npm run build && node --import ./dist/src/polyfill.js dist/bench/market.js [latencyTasks] [throughputTasks]
 *   ... dist/bench/market.js --baseline ../base [latencyTasks] [throughputTasks] [rounds]
 *
 * With `--baseline <dir>` (a built checkout of the baseline commit) it runs itself from both
 * trees, alternating, and prints each figure with the ratio ours/baseline (bench/compare.ts).
 * With `PLUSONE_BENCH_PROFILE=<file.cpuprofile>` the throughput phase alone is CPU-profiled
 * (main thread; read it with scripts/cpuprofile.mjs).
 *
 * - latency: one single-task job at a time, submitJob() → job done (accepted output checked)
 * - throughput: jobs of 20 tasks submitted so that 200 tasks are in flight, until
 *   `throughputTasks` are done; accepted tasks per second over the whole run.
 * Anchor (issue 5): Bacalhau's libp2p-era network ~1.3 s per job, 0.75 jobs/s.
 * Targets (issue 12): p50 ≤ 30 ms, p99 ≤ 100 ms, ≥ 100 tasks/s, ≤ 10 ms of CPU per task (all nodes).
 */
import { enc, example, startMesh } from '../test/market/helpers.js'
import { baselineArg, compare, figure } from './compare.js'
import { startProfile } from './profile.js'

const { baseline, rest } = baselineArg(process.argv.slice(2))
if (baseline != null) {
  await compare(
    'market',
    rest.slice(0, 2),
    baseline,
    [
      figure('latency p50', 'ms', 'lower', /p50 ([\d.]+) ms/),
      figure('latency p99', 'ms', 'lower', /p99 ([\d.]+) ms/),
      figure('throughput', 'tasks/s', 'higher', /: ([\d.]+) tasks\/s/),
      figure('CPU per task, whole mesh', 'ms', 'lower', /cpu: ([\d.]+) ms/),
      figure('executions per task', '', 'lower', /\(([\d.]+) per task\)/),
    ],
    { rounds: Number(rest[2] ?? 1) },
  )
  process.exit(0)
}
const latencyTasks = Number(rest[0] ?? 200)
const throughputTasks = Number(rest[1] ?? 1000)
const IN_FLIGHT = 200
const JOB_TASKS = 20
const NODES = 10

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

const mesh = await startMesh(
  [
    { executor: { enabled: false } },
    ...Array.from({ length: NODES - 1 }, () => ({ executor: { maxTasks: 64 } })),
  ],
  { timeoutMs: 60_000 },
)
const { market } = mesh.nodes[0]
const module = example('wat/empty')
const spec = { module, replicas: 3, fuel: 1_000_000, memoryMB: 1, maxOutputBytes: 1024, deadlineMs: 10_000 }
let seq = 0
const input = (): { name: string; bytes: Uint8Array } => {
  seq++
  return { name: `t${seq}`, bytes: enc(`task ${seq}`) }
}

try {
  // warm-up: compile caches, connections
  for (let i = 0; i < 20; i++) {
    const job = await market.submitJob({ ...spec, inputs: [input()] })
    await market.waitForJob(job.jobId, { signal: AbortSignal.timeout(10_000) })
  }

  const latencies: number[] = []
  for (let i = 0; i < latencyTasks; i++) {
    const t0 = performance.now()
    const job = await market.submitJob({ ...spec, inputs: [input()] })
    const done = await market.waitForJob(job.jobId, { signal: AbortSignal.timeout(10_000) })
    if (done.status !== 'done') throw new Error(`latency task ${done.status}`)
    latencies.push(performance.now() - t0)
  }
  latencies.sort((a, b) => a - b)

  const profiler = await startProfile(process.env.PLUSONE_BENCH_PROFILE)
  let submitted = 0
  let finished = 0
  let failed = 0
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  await new Promise<void>((resolve, reject) => {
    const launch = (): void => {
      while (submitted < throughputTasks && submitted - finished < IN_FLIGHT) {
        const n = Math.min(JOB_TASKS, throughputTasks - submitted)
        submitted += n
        market
          .submitJob({ ...spec, inputs: Array.from({ length: n }, input) })
          .then((job) => market.waitForJob(job.jobId, { signal: AbortSignal.timeout(60_000) }))
          .then((view) => {
            finished += view.tasks.length
            failed += view.tasks.filter((t) => t.status !== 'done').length
            if (finished >= throughputTasks) resolve()
            else launch()
          }, reject)
      }
    }
    launch()
  })
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  await profiler?.()
  const cpuMsPerTask = (cpu.user + cpu.system) / 1000 / throughputTasks
  const executed = mesh.nodes.reduce((n, m) => n + m.market.stats().executed, 0)

  console.log(`market bench: ${NODES} nodes in one process, empty task, k=3`)
  console.log(
    `latency (${latencyTasks} tasks, one at a time): p50 ${pct(latencies, 50).toFixed(1)} ms  p99 ${pct(latencies, 99).toFixed(1)} ms  max ${latencies[latencies.length - 1].toFixed(1)} ms   (target p50 ≤ 50, p99 ≤ 200; Bacalhau ~1300 ms)`,
  )
  console.log(
    `throughput (${throughputTasks} tasks, ${IN_FLIGHT} in flight): ${(throughputTasks / seconds).toFixed(1)} tasks/s, ${failed} failed   (target ≥ 100; Bacalhau 0.75 jobs/s)`,
  )
  console.log(
    `cpu: ${cpuMsPerTask.toFixed(1)} ms of process CPU per task, all ${NODES} nodes together (they share one JS thread here, so ≈ ${(1000 / cpuMsPerTask).toFixed(0)} tasks/s is this process's ceiling)`,
  )
  console.log(
    `executions: ${executed} in total (${(executed / (throughputTasks + latencyTasks + 20)).toFixed(2)} per task)`,
  )
} finally {
  await mesh.stop()
}
