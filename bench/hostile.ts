/**
 * Before and after figures for two attacks of issue 11, baseline and ours in one run, on
 * in-process meshes (loopback, built with `startDaemon` like `plusone daemon`):
 *
 *   npm run build && node --import ./dist/src/polyfill.js dist/bench/hostile.js [inputMiB] [tasks] [stall]
 *
 * - **Disk (attack 5).** A submitter runs `tasks` cheap single-replica tasks (default 3), each
 *   with an `inputMiB` input (default 60, the issue's figure), on 3 executors. Baseline: the
 *   executors keep others' blobs forever (`collect: false`, as before issue 11). Ours: the blob
 *   cache. Reported: executors' blob bytes once every task is settled, per task.
 * - **Stall (attack 3).** An attacker announces tasks with round 2 (no bid sampling), 20 at once
 *   and then five a second, and never answers a bid; an honest job of 6 single-replica tasks runs
 *   on 3 executors of one slot each. Baseline: the executors' flood defences off
 *   (`floodDefence: false`: one first-in-first-out queue, 5 s bid timeout, no dropping). Ours:
 *   on. Reported: the honest job's time alone and under the stall (capped at 120 s).
 */
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Daemon } from '../src/daemon/index.js'
import { RECEIPTS_TOPIC, receiptId } from '../src/ledger/index.js'
import { BID_PROTOCOL, TASKS_TOPIC } from '../src/market/index.js'
import { attacker, diskBytes, stallAnnouncement } from '../test/hostile/helpers.js'
import { enc, example } from '../test/market/helpers.js'
import { createMesh, fullyConnect, type MeshOptions } from '../test/mesh.js'

const INPUT_MIB = Number(process.argv[2] ?? 60)
const TASKS = Number(process.argv[3] ?? 3)
const MIB = 1024 * 1024
const STALL_TASKS = 6
const STALL_CAP_MS = Number(process.env.STALL_CAP_MS ?? 120_000)

/** Resolves once `check` holds, re-checking every 100 ms; rejects after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs / 1000} s`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function diskRun(collect: boolean): Promise<number> {
  const opts: MeshOptions = { market: { bidWindowMaxMs: 50, collect } }
  const mesh = await createMesh(1, { ...opts, config: { maxTasks: 0 } })
  try {
    for (let i = 0; i < 3; i++) await mesh.add({ ...opts, config: { maxTasks: 1 } })
    await fullyConnect(mesh.daemons, [TASKS_TOPIC, RECEIPTS_TOPIC], 60_000)
    const [submitter, ...executors] = mesh.daemons
    const job = await submitter.market.submitJob({
      // a cheap task: it does not even read its input
      module: example('wat/empty'),
      inputs: Array.from({ length: TASKS }, (_, i) => ({
        name: `in${i}`,
        bytes: randomBytes(INPUT_MIB * MIB),
      })),
      replicas: 1,
      memoryMB: 16,
      deadlineMs: 60_000,
    })
    const view = await submitter.market.waitForJob(job.jobId, { signal: AbortSignal.timeout(300_000) })
    if (view.status !== 'done') throw new Error(`disk job ${view.status}: ${view.waiting ?? ''}`)
    // settled: every executor holds the receipt for each task it ran, and (ours) collected
    const self = submitter.node.peerId.toString()
    const ran = async (e: Daemon): Promise<boolean> => {
      for await (const r of submitter.ledger.receipts()) {
        if (r.info.executor !== e.node.peerId.toString()) continue
        if (!(await e.ledger.has(receiptId(self, r.info.taskId, r.info.executor)))) return false
      }
      return true
    }
    const signed = async (): Promise<number> => {
      let n = 0
      for await (const r of submitter.ledger.receipts()) if (r.info.jobId === job.jobId) n++
      return n
    }
    await until(
      'receipts delivered',
      async () => (await signed()) >= TASKS && (await Promise.all(executors.map(ran))).every(Boolean),
    )
    if (collect) {
      await until('outputs collected', async () =>
        executors.every((e) => (e.market.cache?.awaiting().length ?? 0) === 0),
      )
    }
    let total = 0
    for (const e of executors) total += await diskBytes(e.blobStore.dir)
    return total
  } finally {
    await mesh.stop()
  }
}

async function stallRun(floodDefence: boolean): Promise<{ aloneMs: number; stalledMs: number }> {
  const opts: MeshOptions = { market: { executor: { floodDefence } } }
  const mesh = await createMesh(1, { ...opts, config: { maxTasks: 0 } })
  const held: Array<{ abort(err: Error): void }> = []
  let attack: NodeJS.Timeout | undefined
  const evilKey = await generateKeyPair('Ed25519')
  let evil: Awaited<ReturnType<typeof attacker>> | undefined
  try {
    for (let i = 0; i < 3; i++) await mesh.add({ ...opts, config: { maxTasks: 1 } })
    await fullyConnect(mesh.daemons, [TASKS_TOPIC], 60_000)
    evil = await attacker(mesh.daemons, [TASKS_TOPIC], evilKey)
    await evil.handle(BID_PROTOCOL, (stream) => void held.push(stream), { maxInboundStreams: 4096 })
    const node = evil
    let seq = 0
    const junk = async (): Promise<void> => {
      await node.services.pubsub.publish(
        TASKS_TOPIC,
        await stallAnnouncement(evilKey, node.peerId.toString(), seq++),
      )
    }
    const honest = async (): Promise<number> => {
      const submitter = mesh.daemons[0]
      const started = Date.now()
      const job = await submitter.market.submitJob({
        module: example('primes'),
        inputs: Array.from({ length: STALL_TASKS }, (_, i) => ({
          name: `r${i}`,
          bytes: enc(`${i * 500} ${(i + 1) * 500}`),
        })),
        replicas: 1,
        fuel: 50_000_000,
        memoryMB: 16,
      })
      try {
        await submitter.market.waitForJob(job.jobId, { signal: AbortSignal.timeout(STALL_CAP_MS) })
      } catch {
        const view = submitter.market.jobStatus(job.jobId)
        const stats = mesh.daemons.slice(1).map((d) => d.market.stats())
        console.log(
          `  (defences ${floodDefence ? 'on' : 'off'}: not done in ${STALL_CAP_MS / 1000} s: ` +
            `${view.tasks.filter((t) => t.status === 'done').length}/${STALL_TASKS} done; ${view.waiting ?? ''}; ` +
            `executors dropped the attacker ${stats.map((x) => x.submittersDropped).join('/')} times)`,
          JSON.stringify(stats),
        )
        await submitter.market.cancel(job.jobId)
        return STALL_CAP_MS
      }
      return Date.now() - started
    }
    const aloneMs = await honest()
    for (let i = 0; i < 20; i++) await junk()
    attack = setInterval(() => void junk().catch(() => {}), 200)
    const stalledMs = await honest()
    return { aloneMs, stalledMs }
  } finally {
    clearInterval(attack)
    for (const s of held) s.abort(new Error('bench over'))
    await evil?.stop()
    await mesh.stop()
  }
}

const fmtMiB = (b: number): string => (b >= MIB ? `${(b / MIB).toFixed(1)} MiB` : `${Math.round(b)} bytes`)
const fmtS = (ms: number): string => `${ms >= STALL_CAP_MS ? '≥ ' : ''}${(ms / 1000).toFixed(1)} s`

const only = process.argv[4]
const [diskBase, diskOurs] = only === 'stall' ? [0, 0] : [await diskRun(false), await diskRun(true)]
if (only !== 'stall') {
  console.log(`disk: ${TASKS} cheap tasks of a ${INPUT_MIB} MiB input each, 3 executors, once settled`)
  console.log(
    `  baseline (keep forever): ${fmtMiB(diskBase)} on executors, ${fmtMiB(diskBase / TASKS)} per task`,
  )
  console.log(
    `  ours (blob cache):       ${fmtMiB(diskOurs)} on executors, ${fmtMiB(diskOurs / TASKS)} per task`,
  )
  console.log(
    `  kept per task: ${fmtMiB(diskBase / TASKS)} → ${fmtMiB(diskOurs / TASKS)} (the module, cached)`,
  )
}

const base = await stallRun(false)
const ours = await stallRun(true)
console.log(`stall: honest job of ${STALL_TASKS} tasks, alone → under a never-answering announcer (5/s)`)
console.log(`  baseline (defences off): ${fmtS(base.aloneMs)} → ${fmtS(base.stalledMs)}`)
console.log(`  ours (defences on):      ${fmtS(ours.aloneMs)} → ${fmtS(ours.stalledMs)}`)
console.log(`  ratio under the stall: ${(base.stalledMs / ours.stalledMs).toFixed(1)}× faster`)
process.exit(0)
