/**
 * Attack 5 of issue 11: disk never reclaimed. On main an executor kept every module, input and
 * output of every task it ran for others, forever ("a 60 MiB input per cheap task"), and a
 * submitter every blob of every job. Now an executor's inputs go when the run ends and its
 * outputs once the task is settled (it holds its receipt); only the module stays, as a bounded
 * cache. The submitter keeps its job's blobs until the job is removed (`plusone jobs rm`, or the
 * retention period).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type { Daemon } from '../../src/daemon/index.js'
import { RECEIPTS_TOPIC } from '../../src/ledger/index.js'
import { DEFAULT_JOB_RETENTION_MS, TASKS_TOPIC } from '../../src/market/index.js'
import { example, waitFor } from '../market/helpers.js'
import { createMesh, fullyConnect, type Mesh } from '../mesh.js'
import { diskBytes } from './helpers.js'

const TASKS = 3
const INPUT_BYTES = 1024 * 1024
const MODULE = example('sha256')

/** A sha256.wasm input: one iteration over `bytes` random bytes. */
function input(bytes: number): Uint8Array {
  const out = new Uint8Array(4 + bytes)
  new DataView(out.buffer).setUint32(0, 1, true)
  out.set(randomBytes(bytes), 4)
  return out
}

async function blobsOf(d: Daemon): Promise<Set<string>> {
  const out = new Set<string>()
  for await (const name of d.blobStore.list()) out.add(name)
  return out
}

describe('hostile: disk filled by others’ tasks', { timeout: 120_000 }, () => {
  let mesh: Mesh
  before(async () => {
    mesh = await createMesh(1, { config: { maxTasks: 0 }, market: { bidWindowMaxMs: 50 } })
    for (let i = 0; i < 3; i++) await mesh.add({ config: { maxTasks: 2 }, market: { bidWindowMaxMs: 50 } })
    await fullyConnect(mesh.daemons, [TASKS_TOPIC, RECEIPTS_TOPIC])
  })
  after(async () => mesh?.stop())

  it('executors keep only the module once tasks are settled; the submitter keeps its job until jobs rm', async (t) => {
    const [submitter, ...executors] = mesh.daemons
    const job = await submitter.market.submitJob({
      module: MODULE,
      inputs: Array.from({ length: TASKS }, (_, i) => ({ name: `in${i}`, bytes: input(INPUT_BYTES) })),
      replicas: 3,
      memoryMB: 16,
      deadlineMs: 20_000,
    })
    await assert.rejects(submitter.market.removeJob(job.jobId), { name: 'JobBusyError' })
    const view = await submitter.market.waitForJob(job.jobId, { signal: AbortSignal.timeout(60_000) })
    assert.equal(view.status, 'done', view.waiting)
    const moduleCid = (await submitter.blobStore.put(MODULE)).toString()
    const jobBlobs = new Set<string>([moduleCid])
    for (const tv of submitter.market.listTasks()) {
      const s = submitter.market.taskStatus(tv.taskId)
      if (s.outputCid != null) jobBlobs.add(s.outputCid)
    }
    for (const b of await blobsOf(submitter)) jobBlobs.add(b)
    // every executor ran every task (k = 3 of 3): once its receipts are in, only the module stays
    const signal = AbortSignal.timeout(60_000)
    for (const e of executors) {
      const cache = e.market.cache
      assert.ok(cache != null)
      await waitFor(() => cache.bytes <= MODULE.byteLength, [(fn) => cache.onChange(fn)], signal)
      const left = await blobsOf(e)
      assert.deepEqual([...left], [moduleCid], 'only the module is left on the executor')
    }
    const executorBytes = await Promise.all(executors.map((e) => diskBytes(e.blobStore.dir)))
    t.diagnostic(
      `blobs left per executor after ${TASKS} tasks of ${INPUT_BYTES / 1024} KiB inputs: ` +
        `${executorBytes.map((b) => `${(b / 1024).toFixed(1)} KiB`).join(', ')} (the module)`,
    )
    for (const b of executorBytes) assert.ok(b < INPUT_BYTES, 'no input is kept')

    // the submitter kept everything of its job until it is removed
    const before = await blobsOf(submitter)
    assert.ok(before.size >= 1 + TASKS, 'module and inputs kept while the job exists')
    const removed = await submitter.market.removeJob(job.jobId)
    assert.equal(removed.blobs, before.size)
    assert.deepEqual([...(await blobsOf(submitter))], [], 'the removed job’s blobs are gone')
    assert.throws(() => submitter.market.jobStatus(job.jobId), { name: 'UnknownTaskError' })
    await assert.rejects(submitter.market.removeJob(job.jobId), { name: 'UnknownTaskError' })
  })

  it('removes finished jobs past the retention period, and keeps a blob another job still needs', async () => {
    const submitter = mesh.daemons[0]
    const shared = input(16 * 1024)
    const submit = async (): Promise<string> => {
      const job = await submitter.market.submitJob({
        module: MODULE,
        inputs: [{ name: 'x', bytes: shared }],
        replicas: 1,
        memoryMB: 16,
      })
      const view = await submitter.market.waitForJob(job.jobId, { signal: AbortSignal.timeout(60_000) })
      assert.equal(view.status, 'done', view.waiting)
      return job.jobId
    }
    const old = await submit()
    const young = await submit()
    const now = Date.now() + DEFAULT_JOB_RETENTION_MS / 2
    // only the first is past the retention period
    const finishedAt = (id: string): number =>
      Math.max(
        ...submitter.market
          .jobStatus(id)
          .tasks.map((t) => submitter.market.taskStatus(t.taskId).finishedAt ?? 0),
      )
    assert.ok(finishedAt(old) <= finishedAt(young))
    assert.deepEqual(await submitter.market.removeExpiredJobs(now), [])
    const removed = await submitter.market.removeExpiredJobs(finishedAt(old) + DEFAULT_JOB_RETENTION_MS)
    assert.ok(removed.includes(old))
    // both jobs share the module, input and output: whatever job is left, its blobs stay
    for (const id of [young].filter((j) => !removed.includes(j))) {
      for (const t of submitter.market.jobStatus(id).tasks)
        assert.ok(
          (await submitter.market.result(t.taskId)).byteLength > 0,
          'the remaining job still has its result',
        )
    }
  })
})
