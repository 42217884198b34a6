/**
 * The real market, quorum and ledger on the in-memory transport: whole jobs, faults, loss and a
 * submitter restart in about a second each, with message counts a socket mesh cannot give.
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { BID_PROTOCOL, INVITE_PROTOCOL, TASKS_TOPIC } from '../../src/market/index.js'
import { enc, example } from './helpers.js'
import { expectedOutput, type MemMesh, receiptsOf, startMemMesh } from './inmem-helpers.js'

const module = example('primes')
const inputs = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ name: `in${i}`, bytes: enc(`input number ${i}`) }))
const job = { module, fuel: 1_000_000, memoryMB: 16, deadlineMs: 2_000 }

/** A seeded generator, so a lossy run is the same run every time. */
function seeded(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

describe('market on the in-memory transport', () => {
  let mesh: MemMesh | undefined
  afterEach(async () => {
    await mesh?.stop()
    mesh = undefined
  })

  it('runs a 20-task job at k=3 on 8 nodes, outvotes a wrong executor, and every ledger agrees', async () => {
    mesh = await startMemMesh(
      [
        { executor: { enabled: false } },
        { executor: { maxTasks: 2 }, wrong: true },
        ...Array.from({ length: 6 }, () => ({ executor: { maxTasks: 2 } })),
      ],
      { latencyMs: 1 },
    )
    await runJob(mesh, 20, 3, 20_000)
    // today's dissemination: every announcement reaches every other subscriber of the one topic
    const announcements = mesh.net.counters.byChannel.get(TASKS_TOPIC) ?? 0
    assert.ok(announcements >= 20 * 7, `${announcements} announcement deliveries for 20 tasks on 8 nodes`)
    assert.ok((mesh.net.counters.byChannel.get(BID_PROTOCOL) ?? 0) >= 60)
    // every executor's receipt reaches every ledger; balances sum to zero everywhere
    const wrong = mesh.nodes[1].id
    const signed = await receiptsOf(mesh.nodes[0].ledger)
    assert.ok(signed >= 60, `${signed} receipts for 20 tasks at k=3`)
    for (const n of mesh.nodes) {
      await waitUntil(async () => (await receiptsOf(n.ledger)) >= signed, 5_000)
      assert.equal(n.ledger.totalBalance(), 0n)
    }
    const rep = mesh.nodes[0].ledger.reputation(wrong).score
    for (const honest of mesh.nodes.slice(2)) {
      const r = mesh.nodes[0].ledger.reputation(honest.id).score
      if (r > 0.5) assert.ok(rep < r, `the wrong executor's reputation ${rep} is below an honest one's ${r}`)
    }
  })

  it('on a 30-node mesh each round invites 2k+3 candidates: no gossip, at most 2k+3 bids per round', async () => {
    // free slots for every invitee and no re-announcing: each task has exactly one round
    mesh = await startMemMesh(
      [
        { executor: { enabled: false }, reannounceMs: 60_000 },
        ...Array.from({ length: 29 }, () => ({ executor: { maxTasks: 4 } })),
      ],
      { latencyMs: 1 },
    )
    await runJob(mesh, 10, 3, 20_000)
    const by = mesh.net.counters.byChannel
    assert.equal(by.get(TASKS_TOPIC) ?? 0, 0, 'no announcement went to the gossip topic')
    const invites = by.get(INVITE_PROTOCOL) ?? 0
    const bids = by.get(BID_PROTOCOL) ?? 0
    assert.equal(invites, 10 * 9, 'one round of 2k+3 = 9 invitations per task')
    assert.ok(bids <= invites, `${bids} bids from ${invites} invitations: only invited peers bid`)
    const executors = mesh.nodes.slice(1).filter((n) => n.market.stats().awardsWon > 0).length
    assert.ok(executors >= 8, `the work spread over ${executors} executors`)
  })

  it('completes every task when one message in ten is lost', async () => {
    mesh = await startMemMesh(
      [{ executor: { enabled: false } }, ...Array.from({ length: 5 }, () => ({ executor: { maxTasks: 2 } }))],
      { latencyMs: 1, loss: 0.1, random: seeded(7) },
    )
    await runJob(mesh, 10, 1, 30_000)
    assert.ok(mesh.net.counters.dropped > 0, 'messages were lost')
  })

  it('an award whose reply is lost with its path is sent again when the executor bids again', async () => {
    // one executor, k=1, a deadline far beyond the wait: without the repeated award the executor
    // never runs the task, and the submitter could only wait out the deadline (and then has
    // nobody left to reissue to)
    mesh = await startMemMesh([{ executor: { enabled: false } }, { executor: { maxTasks: 1 } }], {
      latencyMs: 5,
    })
    const [submitter, executor] = mesh.nodes
    const net = mesh.net
    let cut = 0
    const off = submitter.market.on((e) => {
      // the award reply goes out right after this event: the path between them dies with it
      if (e.type === 'bid' && e.decision === 'award' && cut++ === 0) {
        net.partition([submitter.id], [executor.id])
        setTimeout(() => net.heal(), 50)
      }
    })
    const { jobId, tasks } = await submitter.market.submitJob({
      ...job,
      deadlineMs: 60_000,
      inputs: inputs(1),
      replicas: 1,
    })
    const view = await submitter.market.waitForJob(jobId, { signal: AbortSignal.timeout(20_000) })
    off()
    assert.equal(cut, 1)
    assert.ok(net.counters.dropped > 0, 'the award reply was lost')
    assert.equal(view.status, 'done', JSON.stringify(view))
    assert.deepEqual(
      Buffer.from(await submitter.market.result(tasks[0].taskId)),
      Buffer.from(expectedOutput(inputs(1)[0].bytes)),
    )
    assert.equal(executor.market.stats().executed, 1, 'one execution, under the first award')
  })

  it('a submitter restarted mid-job resumes from its journal and finishes the job', async () => {
    mesh = await startMemMesh(
      [{ executor: { enabled: false } }, ...Array.from({ length: 4 }, () => ({ executor: { maxTasks: 1 } }))],
      { latencyMs: 2 },
    )
    const ins = inputs(12)
    const { jobId } = await mesh.nodes[0].market.submitJob({ ...job, inputs: ins, replicas: 3 })
    const restarted = await mesh.restartMarket(0)
    assert.equal(restarted.jobStatus(jobId).status, 'running', 'the restart left work to resume')
    const view = await restarted.waitForJob(jobId, { signal: AbortSignal.timeout(20_000) })
    assert.equal(view.status, 'done', JSON.stringify(view))
    // each executor is paid once per task it ran, before and after the restart
    const receipts = await receiptsOf(mesh.nodes[0].ledger)
    assert.ok(receipts >= 12 * 2, `${receipts} receipts`)
  })
})

/** Submits `count` tasks at `replicas` from node 0 and checks every output against the stand-in's. */
async function runJob(mesh: MemMesh, count: number, replicas: number, timeoutMs: number): Promise<void> {
  const submitter = mesh.nodes[0].market
  const ins = inputs(count)
  const { jobId, tasks } = await submitter.submitJob({ ...job, inputs: ins, replicas })
  const view = await submitter.waitForJob(jobId, { signal: AbortSignal.timeout(timeoutMs) })
  assert.equal(view.status, 'done', JSON.stringify(view))
  for (const t of tasks) {
    const input = ins.find((i) => i.name === t.input)!
    assert.deepEqual(Buffer.from(await submitter.result(t.taskId)), Buffer.from(expectedOutput(input.bytes)))
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 10))
  }
}
