/**
 * Replicated verification on a live mesh (issue 6): 7 in-process daemons on loopback, node 0
 * submits, nodes 1–4 are honest executors and nodes 5–6 are faulty ones (`wrong-output`, then
 * `collude`). 100 prime-counting tasks run at k=3 and again at k=5 on the same mesh; every
 * accepted output is compared with a local run of the same task.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { after, before, describe, it, type TestContext } from 'node:test'
import type { Daemon } from '../../src/daemon/index.js'
import {
  encodeReceiptBatch,
  type ExportedReceipt,
  RECEIPT_SIGNING_TAG,
  RECEIPTS_TOPIC,
  signReceipt,
  verifyReceipt,
} from '../../src/ledger/index.js'
import type { Fault } from '../../src/market/index.js'
import { TASKS_TOPIC } from '../../src/market/index.js'
import { Receipt, SignedReceipt, Verdict } from '../../src/pb/ledger.js'
import { runTask } from '../../src/runtime/index.js'
import { quorumSize } from '../../src/verification/index.js'
import { dec, enc, example } from '../market/helpers.js'
import { createMesh, eventually, fullyConnect, type Mesh } from '../mesh.js'

const NODES = 7
const FAULTY = [5, 6]
const TASKS = 100
/** Numbers per task: small, so 100 tasks × (3 + 5) replicas stay cheap on 2 cores. */
const SPAN = 2_000
const FUEL = 50_000_000
const MEMORY_MB = 16
const JOB_TIMEOUT_MS = 90_000

const module = example('primes')
const inputs = Array.from({ length: TASKS }, (_, i) => ({
  name: `r${i}`,
  bytes: enc(`${i * SPAN} ${(i + 1) * SPAN}`),
}))

/** The honest output of every input, from a local run outside the mesh. */
async function expectedOutputs(): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (let i = 0; i < inputs.length; i += 4) {
    await Promise.all(
      inputs.slice(i, i + 4).map(async ({ name, bytes }) => {
        const o = await runTask({
          module,
          input: bytes,
          taskId: new Uint8Array(32),
          limits: { fuel: BigInt(FUEL), memoryBytes: MEMORY_MB * 1024 * 1024 },
        })
        assert.equal(o.status, 'ok')
        out.set(name, dec(o.output))
      }),
    )
  }
  return out
}

const idOf = (d: Daemon): string => d.node.peerId.toString()

async function receiptsOf(d: Daemon, jobId?: string) {
  const out = []
  for await (const r of d.ledger.receipts()) if (jobId === undefined || r.info.jobId === jobId) out.push(r)
  return out
}

interface TaskReport {
  taskId: string
  correct: boolean
  /** Every executor awarded the task (one receipt each). */
  executors: string[]
  faulty: number
  honest: number
  /** Executors whose claim arrived before their deadline (receipt not `timed_out`), and the honest ones among them. */
  answered: number
  honestAnswered: number
}

/**
 * Submits the 100 tasks at `replicas`, waits for the job and for every task to be settled, and
 * returns each task's accepted output (right or wrong) and who executed it, from the submitter's
 * receipts (one per executor of a settled task).
 */
async function runJob(
  mesh: Mesh,
  replicas: number,
  expected: Map<string, string>,
): Promise<{ jobId: string; reports: TaskReport[] }> {
  const submitter = mesh.daemons[0]
  const faulty = new Set(FAULTY.map((i) => idOf(mesh.daemons[i])))
  const awards = new Map<string, Set<string>>()
  const off = submitter.market.on((e) => {
    if (e.type !== 'bid' || e.decision !== 'award') return
    const set = awards.get(e.taskId) ?? new Set<string>()
    set.add(e.peer)
    awards.set(e.taskId, set)
  })
  try {
    const job = await submitter.market.submitJob({
      module,
      inputs,
      replicas,
      fuel: FUEL,
      memoryMB: MEMORY_MB,
      maxOutputBytes: 4096,
      deadlineMs: 20_000,
    })
    const view = await submitter.market.waitForJob(job.jobId, { signal: AbortSignal.timeout(JOB_TIMEOUT_MS) })
    assert.equal(view.status, 'done', JSON.stringify(view.tasks.filter((t) => t.status !== 'done')))
    // every awarded executor of every task gets its receipt once the task is settled
    const totalAwards = (): number => [...awards.values()].reduce((n, s) => n + s.size, 0)
    const receipts = await eventually(
      'every executor settled',
      async () => {
        const rs = await receiptsOf(submitter, job.jobId)
        return rs.length >= totalAwards() ? rs : undefined
      },
      { attempts: 200, intervalMs: 100 },
    )
    const reports: TaskReport[] = []
    for (const t of job.tasks) {
      const own = receipts.filter((r) => r.info.taskId === t.taskId)
      const executors = own.map((r) => r.info.executor)
      assert.deepEqual(new Set(executors), awards.get(t.taskId), 'one receipt per awarded executor')
      const output = dec(await submitter.market.result(t.taskId))
      const bad = executors.filter((p) => faulty.has(p)).length
      const answered = own.filter((r) => r.info.verdict !== 'timed_out').map((r) => r.info.executor)
      const honestAnswered = answered.filter((p) => !faulty.has(p)).length
      reports.push({
        taskId: t.taskId,
        correct: output === expected.get(t.input),
        executors,
        faulty: bad,
        honest: executors.length - bad,
        answered: answered.length,
        honestAnswered,
      })
    }
    return { jobId: job.jobId, reports }
  } finally {
    off()
  }
}

/**
 * Waits until every executor holds every receipt that pays it (gossip is asynchronous): under the
 * receipts trust model (ledger/trust.ts) a node stores the receipts it is party to, not everyone's.
 * Bounded by an event per receipt the executors validate, and by time.
 */
async function receiptsDelivered(mesh: Mesh): Promise<void> {
  const signed = await receiptsOf(mesh.daemons[0])
  const want = (d: Daemon): number => signed.filter((r) => r.info.executor === idOf(d)).length
  const executors = mesh.daemons.slice(1)
  await eventually(
    'every executor holds the receipts that pay it',
    async () => {
      for (const d of executors) {
        const mine = (await receiptsOf(d)).filter((r) => r.info.executor === idOf(d)).length
        if (mine < want(d)) return undefined
      }
      return true
    },
    // hundreds of receipts cross a 7-node gossip mesh while each check reads 7 ledgers: give it 30 s
    { attempts: 300, intervalMs: 100 },
  )
}

/**
 * What the receipts trust model promises after a job with liars:
 * - the submitter holds every receipt it signed, and each executor every receipt that pays it;
 * - the two agree on each receipt they are both party to (same bytes: same verdict and amount);
 * - each party's own balance is the sum of its receipts, the submitter's view of an executor's
 *   balance is the executor's own, and the parties' balances add up to zero;
 * - by the submitter's own verified observations, the liars rank below every honest executor;
 * - every node's `ledger --export` is receipts whose signatures verify for this network.
 */
async function checkLedgers(t: TestContext, mesh: Mesh): Promise<void> {
  await receiptsDelivered(mesh)
  const [submitter, ...executors] = mesh.daemons
  const ids = mesh.daemons.map(idOf)
  const honest = ids.slice(1).filter((_, i) => !FAULTY.includes(i + 1))
  const liars = FAULTY.map((i) => ids[i])
  const s = submitter.ledger
  const signed = new Map((await receiptsOf(submitter)).map((r) => [r.id, r]))
  for (const e of executors) {
    const me = idOf(e)
    for (const r of await receiptsOf(e)) {
      if (r.info.executor !== me) continue
      const theirs = signed.get(r.id)
      assert.ok(theirs != null, `the submitter holds the receipt paying ${me}`)
      assert.equal(Buffer.from(theirs.bytes).toString('hex'), Buffer.from(r.bytes).toString('hex'))
    }
  }
  let sum = 0n
  for (const d of mesh.daemons) {
    const me = idOf(d)
    let fromReceipts = 0n
    for (const r of await receiptsOf(d)) {
      if (r.info.executor === me) fromReceipts += r.info.amount
      if (r.info.submitter === me) fromReceipts -= r.info.amount
    }
    const own = d.ledger.account(me).balance
    assert.equal(own, fromReceipts, `balance of ${me} is the sum of its receipts`)
    assert.equal(s.account(me).balance, own, `the submitter and ${me} agree on its balance`)
    sum += own
  }
  assert.equal(sum, 0n, 'the parties’ balances add up to zero')
  for (const p of honest) assert.ok(s.account(p).balance > 0n, 'honest executors earned credit')
  for (const score of [(p: string) => s.reputation(p).score, (p: string) => s.observedReputation(p).score]) {
    const worstHonest = Math.min(...honest.map(score))
    const bestLiar = Math.max(...liars.map(score))
    assert.ok(bestLiar < worstHonest, `liars score ${bestLiar} < honest ${worstHonest} at the submitter`)
  }
  t.diagnostic(
    `reputation at the submitter: honest ${honest.map((p) => s.reputation(p).score.toFixed(3)).join(' ')}; ` +
      `liars ${liars.map((p) => s.reputation(p).score.toFixed(3)).join(' ')}`,
  )
  for (const d of mesh.daemons) {
    const exported = JSON.parse(await d.ledger.exportReceipts('json')) as ExportedReceipt[]
    assert.ok(exported.length > 0)
    for (const x of exported) {
      const r = await verifyReceipt(new Uint8Array(Buffer.from(x.signed, 'base64')), d.network)
      assert.equal(r.id, x.id, 'an exported receipt verifies and is what it says')
      assert.equal(r.info.amount.toString(), x.amount)
    }
  }
}

async function startFaultyMesh(fault: Fault): Promise<Mesh> {
  const faults: Array<Fault | undefined> = Array.from({ length: NODES }, (_, i) =>
    FAULTY.includes(i) ? fault : undefined,
  )
  const mesh = await createMesh(NODES, { faults })
  try {
    await fullyConnect(mesh.daemons, [TASKS_TOPIC, RECEIPTS_TOPIC])
  } catch (err) {
    await mesh.stop()
    throw err
  }
  return mesh
}

describe('verification on a 7-node mesh with 2 wrong-output executors', { timeout: 150_000 }, () => {
  let mesh: Mesh
  let expected: Map<string, string>
  before(async () => {
    expected = await expectedOutputs()
    mesh = await startFaultyMesh('wrong-output')
  })
  after(async () => mesh?.stop())

  for (const k of [3, 5]) {
    it(`accepts no wrong result at k=${k}`, { timeout: 100_000 }, async (t) => {
      const { reports } = await runJob(mesh, k, expected)
      const wrong = reports.filter((r) => !r.correct)
      const executions = reports.reduce((n, r) => n + r.executors.length, 0)
      const withLiar = reports.filter((r) => r.faulty > 0).length
      t.diagnostic(
        `k=${k}: ${TASKS} tasks, ${executions} executions (${(executions / TASKS).toFixed(2)} per task), ` +
          `${withLiar} tasks had a liar among their executors, ${wrong.length} wrong results accepted`,
      )
      assert.ok(withLiar > 0, 'the liars took part')
      assert.equal(wrong.length, 0, `wrong results accepted: ${wrong.map((r) => r.taskId).join(' ')}`)
    })
  }

  it('lowers the liars’ reputation below the honest executors’; the parties’ ledgers agree', async (t) => {
    await checkLedgers(t, mesh)
  })
})

describe('verification on a 7-node mesh with 2 colluding executors', { timeout: 150_000 }, () => {
  let mesh: Mesh
  let expected: Map<string, string>
  before(async () => {
    expected = await expectedOutputs()
    mesh = await startFaultyMesh('collude')
  })
  after(async () => mesh?.stop())

  for (const k of [3, 5]) {
    it(`accepts no colluded result where the honest replicas were a majority, k=${k}`, {
      timeout: 100_000,
    }, async (t) => {
      const { reports } = await runJob(mesh, k, expected)
      const q = quorumSize(k)
      // colluders could capture a task only where they alone could form a quorum
      const couldCapture = reports.filter((r) => r.faulty >= q)
      const captured = reports.filter((r) => !r.correct)
      // a majority among the replicas that answered in time: an honest replica that missed its
      // deadline (a loaded machine) is reissued around, and its claim no longer counts
      const honestMajority = reports.filter((r) => r.honestAnswered > r.answered / 2)
      const executions = reports.reduce((n, r) => n + r.executors.length, 0)
      t.diagnostic(
        `k=${k}: ${TASKS} tasks, ${executions} executions; colluders took part in ` +
          `${reports.filter((r) => r.faulty > 0).length} tasks, could capture ${couldCapture.length} ` +
          `(held ≥ ${q} of the replicas), did capture ${captured.length}`,
      )
      assert.ok(
        reports.some((r) => r.faulty > 0),
        'the colluders took part',
      )
      for (const r of honestMajority) assert.ok(r.correct, `task ${r.taskId} had an honest majority`)
      for (const r of captured) assert.ok(r.faulty >= q, `task ${r.taskId} was captured by a minority`)
      if (2 < q) assert.equal(captured.length, 0, 'two colluders can never reach a quorum')
    })
  }

  it('lowers the colluders’ reputation below the honest executors’; the parties’ ledgers agree', async (t) => {
    await checkLedgers(t, mesh)
  })
})

/** Signs arbitrary receipt bytes with `key`, whatever the receipt says (for forgeries). */
async function signRaw(key: PrivateKey, receipt: Uint8Array, publicKey = key.publicKey): Promise<Uint8Array> {
  const msg = new Uint8Array(RECEIPT_SIGNING_TAG.length + receipt.length)
  msg.set(RECEIPT_SIGNING_TAG)
  msg.set(receipt, RECEIPT_SIGNING_TAG.length)
  return SignedReceipt.encode({
    receipt: Uint8Array.from(receipt),
    publicKey: Uint8Array.from(publicKeyToProtobuf(publicKey)),
    signature: Uint8Array.from(await key.sign(msg)),
  })
}

describe('receipt gossip on a live mesh', { timeout: 60_000 }, () => {
  let mesh: Mesh
  before(async () => {
    mesh = await createMesh(3)
    await fullyConnect(mesh.daemons, [RECEIPTS_TOPIC])
  })
  after(async () => mesh?.stop())

  it('rejects bad signatures and forged submitters, and counts a duplicate once', async () => {
    const [publisher, victim, executor] = mesh.daemons
    const receivers = [victim, executor]
    const attacker = await generateKeyPair('Ed25519')
    const draft = {
      taskId: 'bafy-gossip-test-task',
      jobId: 'gossip-test',
      executor: idOf(executor),
      verdict: 'accepted' as const,
      fuelUsed: 2_000_000_000n,
      pricePerGfuel: 1_000n,
      timestampMs: Date.now(),
      sequence: 1,
    }
    const valid = await signReceipt(attacker, draft)
    // decode a copy: the decoded fields are views of the bytes they came from
    const badSignature = SignedReceipt.decode(valid.slice())
    badSignature.signature[0] ^= 0xff
    const forgedBytes = Receipt.encode({
      version: 1,
      taskId: 'bafy-gossip-test-task-2',
      jobId: 'gossip-test',
      submitter: Uint8Array.from(peerIdFromString(idOf(victim)).toMultihash().bytes),
      executor: Uint8Array.from(peerIdFromString(idOf(executor)).toMultihash().bytes),
      verdict: Verdict.ACCEPTED,
      fuelUsed: 1_000_000_000,
      pricePerGfuel: 5_000,
      amount: 5_000,
      timestampMs: 1,
      sequence: 1,
    })
    const victimKey = peerIdFromString(idOf(victim)).publicKey
    assert.ok(victimKey != null)
    const bad = {
      // a valid receipt whose signature was tampered with
      InvalidSignatureError: SignedReceipt.encode(badSignature),
      // names the victim as the payer but carries the attacker's key
      ForgedSubmitterError: await signRaw(attacker, forgedBytes),
      // names the victim and carries the victim's public key, signed by the attacker
      InvalidSignatureErrorForged: await signRaw(attacker, forgedBytes, victimKey),
    }
    for (const [name, bytes] of Object.entries(bad)) {
      await assert.rejects(victim.ledger.add(bytes), { name: name.replace(/Forged$/, '') })
    }
    const before = receivers.map((d) => d.settlement.stats())
    const pubsub = publisher.node.services.pubsub
    // one receipt per gossip message: each is judged on its own
    for (const bytes of [valid, ...Object.values(bad), valid])
      await pubsub.publish(RECEIPTS_TOPIC, encodeReceiptBatch([bytes]))
    const after = await eventually(
      'the receivers processed 5 receipts',
      async () => {
        const now = receivers.map((d) => d.settlement.stats())
        const processed = now.map(
          (s, i) =>
            s.added +
            s.duplicates +
            s.rejected +
            s.ignored -
            (before[i].added + before[i].duplicates + before[i].rejected + before[i].ignored),
        )
        return processed.every((n) => n >= 5) ? now : undefined
      },
      { attempts: 100, intervalMs: 50 },
    )
    const amount = (draft.pricePerGfuel * draft.fuelUsed) / 1_000_000_000n
    const submitterId = peerIdFromPrivateKey(attacker).toString()
    // the executor is party to the valid receipt: it stores and counts it once; the victim has
    // never dealt with the attacker's key, so it holds that receipt in memory and counts nothing
    // (the receipts trust model, SECURITY.md); both reject the three bad ones
    const expectedCounts = [
      { added: 0, duplicates: 0, ignored: 2, rejected: 3 },
      { added: 1, duplicates: 1, ignored: 0, rejected: 3 },
    ]
    for (const [i, d] of receivers.entries()) {
      assert.deepEqual(
        {
          added: after[i].added - before[i].added,
          duplicates: after[i].duplicates - before[i].duplicates,
          ignored: after[i].ignored - before[i].ignored,
          rejected: after[i].rejected - before[i].rejected,
        },
        expectedCounts[i],
      )
      const counted = d === executor ? amount : 0n
      assert.equal(d.ledger.account(idOf(executor)).earned, counted, 'paid once, by the valid receipt only')
      assert.equal(d.ledger.account(submitterId).spent, counted)
      assert.equal(d.ledger.account(idOf(victim)).spent, 0n, 'the victim pays nothing')
      assert.equal(d.ledger.reputation(idOf(executor)).accepted, d === executor ? 1 : 0)
      assert.equal(d.ledger.equivocators().size, 0)
      assert.equal(d.ledger.totalBalance(), 0n)
    }
  })
})
