/**
 * Where a task's time goes on a mesh of daemons (built with `startDaemon`, like bench/verification.ts):
 * one single-task job at a time, each phase timed from the market's events —
 * submit → first announcement heard → first award → executed → done.
 *
 *   npm run build && node --import ./dist/src/polyfill.js dist/bench/trace.js [tasks] [replicas] [task]
 *   ... dist/bench/trace.js --baseline ../base [tasks] [replicas] [task]   (baseline and ours, bench/compare.ts)
 *
 * `task` is `empty` (default) or `primes`.
 */
import { RECEIPTS_TOPIC } from '../src/ledger/index.js'
import { TASKS_TOPIC } from '../src/market/index.js'
import { enc, example } from '../test/market/helpers.js'
import { createMesh, fullyConnect } from '../test/mesh.js'
import { baselineArg, compare, figure } from './compare.js'
import { startProfile } from './profile.js'

const { baseline, rest } = baselineArg(process.argv.slice(2))
if (baseline != null) {
  const phase = (name: string): RegExp => new RegExp(`${name}\\s+median\\s+([\\d.]+) ms`)
  await compare('trace', rest, baseline, [
    figure('submitJob returned', 'ms', 'lower', phase('submitJob returned')),
    figure('first announced', 'ms', 'lower', phase('first announced')),
    figure('first awarded', 'ms', 'lower', phase('first awarded')),
    figure('first executed', 'ms', 'lower', phase('first executed')),
    figure('done (accepted)', 'ms', 'lower', phase('first done')),
    figure('waitForJob resolved', 'ms', 'lower', phase('waitForJob resolved')),
  ])
  process.exit(0)
}
const TASKS = Number(rest[0] ?? 40)
const REPLICAS = Number(rest[1] ?? 1)
const TASK = rest[2] ?? 'empty'
const NODES = 10

const module = example(TASK === 'primes' ? 'primes' : 'wat/empty')
const mesh = await createMesh(NODES)
const phases = ['announced', 'awarded', 'executed', 'done'] as const
const at = new Map<string, Partial<Record<(typeof phases)[number], number>>>()
const mark = (taskId: string | undefined, phase: (typeof phases)[number]): void => {
  if (taskId === undefined) return
  const t = at.get(taskId)
  if (t != null && t[phase] === undefined) t[phase] = performance.now()
}
try {
  await fullyConnect(mesh.daemons, [TASKS_TOPIC, RECEIPTS_TOPIC], 60_000)
  for (const d of mesh.daemons) {
    d.market.on((e) => {
      if (e.type === 'announcement' && e.accepted) mark(e.taskId, 'announced')
      if (e.type === 'bid' && e.decision === 'award') mark(e.taskId, 'awarded')
      if (e.type === 'executed') mark(e.taskId, 'executed')
      if (e.type === 'task' && e.status === 'done') mark(e.taskId, 'done')
    })
  }
  const submitter = mesh.daemons[0].market
  const rows: number[][] = []
  // PLUSONE_BENCH_PROFILE=<file.cpuprofile>: the task loop alone is CPU-profiled
  const profiler = await startProfile(process.env.PLUSONE_BENCH_PROFILE)
  for (let i = 0; i < TASKS + 5; i++) {
    const t0 = performance.now()
    const job = await submitter.submitJob({
      module,
      inputs: [{ name: `t${i}`, bytes: enc(`${i * 2000} ${(i + 1) * 2000}`) }],
      replicas: REPLICAS,
      fuel: 50_000_000,
      memoryMB: 16,
      maxOutputBytes: 4096,
      deadlineMs: 10_000,
    })
    const taskId = job.tasks[0].taskId
    at.set(taskId, at.get(taskId) ?? {})
    const submitted = performance.now()
    await submitter.waitForJob(job.jobId, { signal: AbortSignal.timeout(30_000) })
    const end = performance.now()
    const t = at.get(taskId) ?? {}
    if (i >= 5) rows.push([submitted - t0, ...phases.map((p) => (t[p] ?? Number.NaN) - t0), end - t0])
  }
  await profiler?.()
  const median = (k: number): number => {
    const xs = rows.map((r) => r[k]).sort((a, b) => a - b)
    return xs[Math.floor(xs.length / 2)]
  }
  const names = ['submitJob returned', ...phases.map((p) => `first ${p}`), 'waitForJob resolved']
  console.log(
    `trace: ${NODES} daemons in one process, ${TASK} task, k=${REPLICAS}, ${TASKS} tasks one at a time`,
  )
  for (let k = 0; k < names.length; k++)
    console.log(`  ${names[k].padEnd(22)} median ${median(k).toFixed(1).padStart(7)} ms after submitJob()`)
} finally {
  await mesh.stop()
}
