/**
 * One connection per peer pair (issue 12 item 2): daemons that all dial each other at once end
 * with exactly one connection per pair — the same one seen from both ends — and the mesh still
 * works over what is left: gossip reaches everyone and every task of a job completes.
 */
import assert from 'node:assert/strict'
import { setMaxListeners } from 'node:events'
import { after, before, describe, it } from 'node:test'
import type { Connection } from '@libp2p/interface'
import type { Daemon } from '../../src/daemon/index.js'
import { RECEIPTS_TOPIC } from '../../src/ledger/index.js'
import { TASKS_TOPIC } from '../../src/market/index.js'
import { keptDirection } from '../../src/network/index.js'
import { dec, enc, example, waitFor } from '../market/helpers.js'
import { createMesh, fullyConnect, type Mesh } from '../mesh.js'

const NODES = 5
const SETTLE_MS = 30_000
const JOB_TIMEOUT_MS = 60_000

/** Every daemon dials every other at the same moment, both ways, forced past any connection held. */
async function dialAllAtOnce(daemons: Daemon[]): Promise<void> {
  const signal = AbortSignal.timeout(SETTLE_MS)
  setMaxListeners(Number.POSITIVE_INFINITY, signal)
  await Promise.all(
    daemons.flatMap((a) =>
      daemons
        .filter((b) => b !== a)
        .map((b) => a.node.dial(b.node.getMultiaddrs()[0], { force: true, signal }).catch(() => undefined)),
    ),
  )
}

/**
 * Submits a k=3 job of `tasks` primes tasks, runs `during` while it is in flight, and waits
 * (bounded) for every task to finish with an output.
 */
async function runJob(
  submitter: Daemon,
  tasks: number,
  { deadlineMs, during }: { deadlineMs?: number; during?: () => Promise<void> } = {},
): Promise<void> {
  const inputs = Array.from({ length: tasks }, (_, i) => ({ name: `t${i}`, bytes: enc(`0 ${100 + i}`) }))
  const job = await submitter.market.submitJob({
    module: example('primes'),
    inputs,
    replicas: 3,
    memoryMB: 16,
    fuel: 10_000_000,
    deadlineMs,
  })
  await during?.()
  const final = await submitter.market.waitForJob(job.jobId, { signal: AbortSignal.timeout(JOB_TIMEOUT_MS) })
  assert.equal(final.status, 'done', JSON.stringify(final.tasks.map((x) => x.status)))
  for (const x of final.tasks) assert.match(dec(await submitter.market.result(x.taskId)), /\d/)
}

const open = (a: Daemon, b: Daemon): Connection[] =>
  a.node.getConnections(b.node.peerId).filter((c) => c.status === 'open')

describe('one connection per peer pair', { timeout: 3 * JOB_TIMEOUT_MS }, () => {
  let mesh: Mesh
  before(async () => {
    // the dedupe is on by default
    mesh = await createMesh(NODES)
  })
  after(async () => mesh?.stop())

  it('nodes all dialling each other at once end with one connection per pair, and a job completes', {
    timeout: 2 * JOB_TIMEOUT_MS,
  }, async (t) => {
    const { daemons } = mesh
    const pairs = daemons.flatMap((a, i) => daemons.slice(i + 1).map((b) => [a, b] as const))
    // connections each node saw open, per peer
    const opened = new Map<string, number>()
    const offs = daemons.map((d) => {
      const on = (evt: CustomEvent<Connection>): void => {
        const key = `${d.node.peerId}/${evt.detail.remotePeer}`
        opened.set(key, (opened.get(key) ?? 0) + 1)
      }
      d.node.addEventListener('connection:open', on)
      return () => d.node.removeEventListener('connection:open', on)
    })
    // every pair starts with at least two connections
    await dialAllAtOnce(daemons)
    const seen = (a: Daemon, b: Daemon): number => opened.get(`${a.node.peerId}/${b.node.peerId}`) ?? 0
    // both ends saw both dials' connections open, and closed all but one
    const settled = (): boolean =>
      pairs.every(
        ([a, b]) => seen(a, b) >= 2 && seen(b, a) >= 2 && open(a, b).length === 1 && open(b, a).length === 1,
      )
    await waitFor(
      settled,
      daemons.flatMap((d) =>
        (['connection:open', 'connection:close'] as const).map((type) => (fn: () => void) => {
          d.node.addEventListener(type, fn)
          return () => d.node.removeEventListener(type, fn)
        }),
      ),
      AbortSignal.timeout(SETTLE_MS),
    ).catch(() => {})
    for (const off of offs) off()
    const before = pairs.map(([a, b]) => `${seen(a, b)}/${seen(b, a)}`)
    const after = pairs.map(([a, b]) => `${open(a, b).length}/${open(b, a).length}`)
    assert.ok(settled(), `connections opened per pair ${before.join(' ')}, open now ${after.join(' ')}`)
    for (const [a, b] of pairs) {
      const [ab] = open(a, b)
      const [ba] = open(b, a)
      assert.equal(ab.direction, keptDirection(a.node.peerId, b.node.peerId), 'the rule chose it')
      assert.notEqual(ab.direction, ba.direction, 'both ends kept the same connection')
    }
    const closed = daemons.reduce((n, d) => n + (d.node.services.dedupe?.stats.closed ?? 0), 0)
    t.diagnostic(`pairs opened ${before.join(' ')} connections; ${closed} closed as redundant`)

    // gossip reaches everyone over the connections left, and a k=3 job runs to the end
    await fullyConnect(daemons, [TASKS_TOPIC, RECEIPTS_TOPIC])
    await runJob(daemons[0], 6)
    for (const [a, b] of pairs) assert.equal(open(a, b).length, 1, 'no duplicate came back')
  })

  it('duplicates opened while a job runs are closed without losing a bid, award, claim or blob read', {
    timeout: 2 * JOB_TIMEOUT_MS,
  }, async (t) => {
    const { daemons } = mesh
    const closedBefore = daemons.reduce((n, d) => n + (d.node.services.dedupe?.stats.closed ?? 0), 0)
    // while bids, awards, claims and blob reads are in flight, every pair dials again both ways;
    // a task that lost an award reply would wait for its deadline, far past the test's bound
    await runJob(daemons[0], 12, { deadlineMs: 5 * JOB_TIMEOUT_MS, during: () => dialAllAtOnce(daemons) })
    const closed = daemons.reduce((n, d) => n + (d.node.services.dedupe?.stats.closed ?? 0), 0) - closedBefore
    t.diagnostic(`${closed} redundant connections closed while the job ran`)
    assert.ok(closed > 0, 'duplicates were closed during the job')
  })
})

describe('"dedupe": false', { timeout: JOB_TIMEOUT_MS }, () => {
  let mesh: Mesh
  before(async () => {
    mesh = await createMesh(2, { config: { dedupe: false } })
  })
  after(async () => mesh?.stop())

  it('keeps both connections of a pair that dialled each other, and gossip still reaches both', async () => {
    const [a, b] = mesh.daemons
    assert.equal(a.node.services.dedupe, undefined, 'no dedupe service runs')
    await dialAllAtOnce(mesh.daemons)
    assert.ok(open(a, b).length >= 2 && open(b, a).length >= 2, `${open(a, b).length}/${open(b, a).length}`)
    await fullyConnect(mesh.daemons, [TASKS_TOPIC, RECEIPTS_TOPIC])
  })
})
