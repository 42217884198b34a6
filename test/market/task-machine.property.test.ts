/**
 * Property tests of the submitter's task machine (src/market/task-machine.ts): random interleavings
 * of bids, timers, claims, output checks, plans, cancels and crash-restarts, in milliseconds, with
 * no sockets and no clock. A small driver plays the shell: it keeps the timers the machine asked
 * for, the journal it wrote, and the replies it owes.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { blobCidOf } from '../../src/blobs/index.js'
import type { AwardRecord, TaskRecord } from '../../src/market/journal.js'
import { AUTO_REPLICAS, type Claim, resultHashOf, type TaskSpec } from '../../src/market/spec.js'
import type { TaskEffect, TaskEvent, TimerKey } from '../../src/market/task-events.js'
import { timerName } from '../../src/market/task-events.js'
import { defaultRank, TaskMachine, type TaskMachineSettings } from '../../src/market/task-machine.js'
import type { QuorumEvent } from '../../src/verification/index.js'

const PEERS = 8
const MAX_PRICE = 2
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

type Command =
  | { t: 'bid'; peer: number; price: number }
  | { t: 'advance'; ms: number }
  | { t: 'claim'; peer: number; good: boolean }
  | { t: 'output'; outcome: 'ok' | 'mismatch' | 'unavailable' }
  | { t: 'plan'; single: boolean }
  | { t: 'cancel' }
  | { t: 'restart' }

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ t: fc.constant('bid' as const), peer: fc.nat(PEERS - 1), price: fc.nat(3) }),
  },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.nat(1_600) }) },
  {
    weight: 4,
    arbitrary: fc.record({ t: fc.constant('claim' as const), peer: fc.nat(PEERS - 1), good: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('output' as const),
      outcome: fc.constantFrom('ok' as const, 'mismatch' as const, 'unavailable' as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('plan' as const), single: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ t: 'cancel' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'restart' as const }) },
)

const replicas = fc.constantFrom(1, 2, 3, 5, AUTO_REPLICAS)
const scenario = fc.record({ k: replicas, commands: fc.array(command, { maxLength: 80 }) })

const sha = (s: string): Uint8Array => new Uint8Array(createHash('sha256').update(s).digest())
const peerName = (i: number): string => `peer-${i}`

function makeTask(k: number): { record: TaskRecord; spec: TaskSpec } {
  const spec: TaskSpec = {
    moduleCid: blobCidOf(sha('module')),
    inputCid: blobCidOf(sha('input')),
    fuel: 1_000,
    memoryBytes: 1 << 20,
    maxOutputBytes: 1 << 10,
    replicas: k,
    deadlineMs: 1_000,
    maxPrice: MAX_PRICE,
    jobId: 'job',
    nonce: new Uint8Array(16),
    submitter: 'submitter',
    createdAt: 0,
    expiresAt: 3_600_000,
  }
  const taskId = blobCidOf(sha(`task/${k}`)).toString()
  return {
    spec,
    record: { taskId, jobId: 'job', input: 'in', spec: '', round: 0, status: 'waiting', createdAt: 0 },
  }
}

function claimOf(taskId: string, peer: string, good: boolean): Claim {
  const output = good ? sha('the answer') : sha(`wrong/${peer}`)
  const claim: Claim = {
    taskId,
    executor: peer,
    status: 'ok',
    fuelUsed: 10,
    outputHash: blobCidOf(output).multihash.digest,
    outputCid: blobCidOf(output),
    outputBytes: 32,
    resultHash: '',
  }
  claim.resultHash = resultHashOf(claim)
  return claim
}

/** The shell, played by a test: the journal, the timers, and everything the machine said. */
class Driver {
  now = 0
  machine: TaskMachine
  readonly journal = {
    record: undefined as TaskRecord | undefined,
    events: [] as QuorumEvent[],
    claims: new Map<string, Claim>(),
    awards: [] as AwardRecord[],
  }
  readonly timers = new Map<string, { timer: TimerKey; at: number }>()
  readonly claimObjects = new Map<string, Claim>()
  /** Bids sent and not yet answered, by id. */
  readonly open = new Map<number, string>()
  /** Executions journaled per peer. */
  readonly awardsByPeer = new Map<string, number>()
  /** Deadlines of the award replies each peer got. */
  readonly awardDeadlines = new Map<string, Set<number>>()
  fetching: string | undefined
  planOut: string | undefined
  settled = 0
  finished: TaskRecord[] = []
  cancelledAt: number | undefined
  nextId = 1
  readonly effectsAfterCancel: TaskEffect[] = []

  constructor(
    readonly record: TaskRecord,
    readonly spec: TaskSpec,
  ) {
    this.machine = new TaskMachine(record, spec, SETTINGS, 0)
    this.feed({ type: 'start', now: 0 })
  }

  feed(event: TaskEvent): void {
    for (const e of this.machine.handle(event)) this.effect(e)
  }

  effect(e: TaskEffect): void {
    if (this.cancelledAt !== undefined) this.effectsAfterCancel.push(e)
    switch (e.type) {
      case 'journal': {
        const x = e.entry
        if (x.kind === 'task') this.journal.record = x.record
        if (x.kind === 'event') {
          assert.equal(x.seq, this.journal.events.length, 'quorum events are journaled in sequence')
          this.journal.events.push(x.event)
        }
        if (x.kind === 'award') {
          this.journal.awards.push(x.award)
          this.awardsByPeer.set(x.award.peer, (this.awardsByPeer.get(x.award.peer) ?? 0) + 1)
        }
        if (x.kind === 'claim') this.journal.claims.set(x.peer, this.claimObjects.get(x.peer)!)
        break
      }
      case 'reply':
        assert.ok(this.open.has(e.bidId), `reply to bid ${e.bidId}, which is not open`)
        if (e.award != null) {
          // a repeated bid from an awardee (its award reply lost) gets the same award again
          const peer = this.open.get(e.bidId)!
          const deadlines = this.awardDeadlines.get(peer) ?? new Set<number>()
          deadlines.add(e.award.deadlineAt)
          this.awardDeadlines.set(peer, deadlines)
        }
        this.open.delete(e.bidId)
        break
      case 'setTimer':
        this.timers.set(timerName(e.timer), { timer: e.timer, at: e.at })
        break
      case 'clearTimer':
        this.timers.delete(timerName(e.timer))
        break
      case 'fetchOutput':
        this.fetching = e.peer
        break
      case 'plan':
        this.planOut = e.bestBidder
        break
      case 'settle':
        this.settled++
        break
      case 'finished':
        this.finished.push(e.record)
        break
      default:
        break
    }
  }

  run(c: Command): void {
    switch (c.t) {
      case 'bid': {
        const bidId = this.nextId++
        const peer = peerName(c.peer)
        this.open.set(bidId, peer)
        this.feed({
          type: 'bid',
          now: this.now,
          bid: {
            bidId,
            peer,
            price: c.price,
            latencyMs: 0,
            freeSlots: 1,
            address: `/ip4/10.0.0.${c.peer}/tcp/1`,
          },
        })
        break
      }
      case 'advance': {
        const until = this.now + c.ms
        for (;;) {
          const due = [...this.timers.values()].filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0]
          if (due === undefined) break
          this.timers.delete(timerName(due.timer))
          this.now = Math.max(this.now, due.at)
          this.feed({ type: 'timer', now: this.now, timer: due.timer, at: due.at })
        }
        this.now = until
        this.feed({ type: 'tick', now: this.now, known: [] })
        break
      }
      case 'claim': {
        const peer = peerName(c.peer)
        const claim = claimOf(this.record.taskId, peer, c.good)
        this.claimObjects.set(peer, claim)
        this.feed({
          type: 'claim',
          now: this.now,
          requestId: this.nextId++,
          claim,
          signed: new Uint8Array([c.peer]),
        })
        break
      }
      case 'output':
        if (this.fetching === undefined) break
        this.feed({ type: 'outputChecked', now: this.now, peer: this.fetching, outcome: c.outcome })
        this.fetching = undefined
        break
      case 'plan':
        if (this.planOut === undefined) break
        this.feed({
          type: 'planned',
          now: this.now,
          plan: c.single
            ? { quorum: { replicas: 1, fallbackReplicas: 3 }, onlyExecutor: this.planOut, spotCheck: false }
            : { quorum: { replicas: 3 }, spotCheck: false },
        })
        this.planOut = undefined
        break
      case 'cancel':
        this.cancelledAt ??= this.now
        this.feed({ type: 'cancel', now: this.now })
        break
      case 'restart':
        this.restart()
        break
    }
  }

  /** A crash: everything not journaled is gone; the machine is rebuilt by replay and resumed. */
  restart(): void {
    if (this.settled > 0) return
    const before = this.machine.view()
    const restored = this.restore()
    const after = restored.view()
    const replanned = before.record.plan?.onlyExecutor !== undefined && before.quorum.awarded.length === 0
    if (!replanned) assert.deepEqual(after.quorum, before.quorum, 'replaying the journal rebuilds the quorum')
    assert.deepEqual(
      after.awardees.map((a) => a.peer),
      before.awardees.map((a) => a.peer),
    )
    this.machine = restored
    this.open.clear()
    this.timers.clear()
    this.fetching = undefined
    this.planOut = undefined
    this.feed({ type: 'resume', now: this.now })
  }

  restore(): TaskMachine {
    return TaskMachine.restore(
      this.journal.record ?? this.record,
      this.spec,
      SETTINGS,
      this.journal,
      this.now,
    )
  }
}

describe('TaskMachine properties', () => {
  it('never awards a peer twice nor beyond 2k+1 executions, and replay rebuilds the same quorum', () => {
    fc.assert(
      fc.property(scenario, ({ k, commands }) => {
        const { record, spec } = makeTask(k)
        const d = new Driver(record, spec)
        for (const c of commands) d.run(c)
        for (const [peer, n] of d.awardsByPeer) assert.equal(n, 1, `${peer} was awarded ${n} times`)
        for (const [peer, deadlines] of d.awardDeadlines) {
          assert.ok(d.awardsByPeer.has(peer), `${peer} got an award reply that was never journaled`)
          assert.equal(deadlines.size, 1, `${peer} got awards with different deadlines`)
        }
        const limit = 2 * (k === AUTO_REPLICAS ? SETTINGS.autoReplicas : k) + 1
        assert.ok(d.awardsByPeer.size <= limit, `${d.awardsByPeer.size} executions, limit ${limit}`)
        const view = d.machine.view()
        assert.ok(view.quorum.awarded.length <= view.quorum.maxExecutions)
        // the journal is a faithful record: the latest task record is the machine's
        assert.deepEqual(d.journal.record ?? record, view.record)
        if (d.settled === 0) d.restart()
      }),
      { numRuns: 400 },
    )
  })

  it('a cancel always ends the task: no award after it, every held bid answered', () => {
    fc.assert(
      fc.property(scenario, fc.nat(80), ({ k, commands }, at) => {
        const { record, spec } = makeTask(k)
        const d = new Driver(record, spec)
        const cut = Math.min(at, commands.length)
        for (const c of commands.slice(0, cut)) d.run(c)
        const ended = d.machine.terminal
        d.run({ t: 'cancel' })
        assert.ok(d.machine.terminal, 'cancelled task is terminal')
        if (!ended) assert.equal(d.machine.view().record.status, 'cancelled')
        assert.equal(d.open.size, 0, 'every held bid was answered')
        for (const c of commands.slice(cut)) d.run(c)
        assert.ok(d.machine.terminal)
        const awards = d.effectsAfterCancel.filter((e) => e.type === 'reply' && e.award != null)
        assert.deepEqual(awards, [], 'no award after a cancel')
        assert.equal(d.open.size, 0, 'bids after the end are declined at once')
      }),
      { numRuns: 300 },
    )
  })

  it('replaying the same events gives the same effects (determinism)', () => {
    fc.assert(
      fc.property(scenario, ({ k, commands }) => {
        const trace = (): TaskEffect[][] => {
          const { record, spec } = makeTask(k)
          const d = new Driver(record, spec)
          const out: TaskEffect[][] = []
          const feed = d.feed.bind(d)
          d.feed = (event: TaskEvent) => {
            const m = d.machine
            const original = m.handle.bind(m)
            m.handle = (ev: TaskEvent) => {
              const effects = original(ev)
              out.push(effects)
              return effects
            }
            feed(event)
            m.handle = original
          }
          for (const c of commands) d.run(c)
          return out
        }
        assert.deepEqual(trace(), trace())
      }),
      { numRuns: 100 },
    )
  })

  it('with honest executors and enough bids, a replicated task is accepted and settled once', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 3, 5), fc.array(fc.nat(1_000), { maxLength: 20 }), (k, delays) => {
        const { record, spec } = makeTask(k)
        const d = new Driver(record, spec)
        for (let p = 0; p < PEERS; p++) d.run({ t: 'bid', peer: p, price: p % 2 })
        for (const ms of delays) d.run({ t: 'advance', ms: ms % 50 })
        d.run({ t: 'advance', ms: 200 })
        for (const peer of d.awardsByPeer.keys())
          d.run({ t: 'claim', peer: Number(peer.slice(5)), good: true })
        d.run({ t: 'output', outcome: 'ok' })
        assert.equal(d.machine.view().record.status, 'done')
        assert.equal(d.awardsByPeer.size, k)
        assert.equal(d.settled, 1)
        assert.equal(d.finished.length, 1)
      }),
      { numRuns: 200 },
    )
  })
})

/**
 * Requests sent again after their connection closed (src/market/wire.ts): each must be idempotent
 * on the submitter, or the executor that re-sent it loses its award or is told its claim was refused.
 */
describe('TaskMachine: a request sent again after its connection closed', () => {
  const replies = (effects: TaskEffect[]) => effects.filter((e) => e.type === 'reply' || e.type === 'ack')
  /** When the last window timer the effects set fires. */
  const windowAt = (effects: TaskEffect[]): number => {
    const set = effects.filter((e) => e.type === 'setTimer' && e.timer.kind === 'window')
    const last = set[set.length - 1]
    assert.ok(last?.type === 'setTimer', 'a bid window is open')
    return last.at
  }
  const bid = (bidId: number, peer: string, round: number, now: number): TaskEvent => ({
    type: 'bid',
    now,
    bid: { bidId, peer, price: 1, latencyMs: 0, freeSlots: 1, address: '/ip4/10.0.0.1/tcp/1', round },
  })

  it('a bid sent again while the first is held takes its place: the award reaches the second', () => {
    const { record, spec } = makeTask(1)
    const machine = new TaskMachine(record, spec, { ...SETTINGS, bidWindowMinMs: 50 }, 0)
    machine.handle({ type: 'start', now: 0 })
    const round = machine.view().record.round
    const held = machine.handle(bid(1, 'peer-1', round, 10))
    assert.deepEqual(replies(held), [], 'the first bid is held')
    const at = windowAt(held)
    // its connection closed; the transport sent it again on another
    assert.deepEqual(replies(machine.handle(bid(2, 'peer-1', round, 20))), [
      { type: 'reply', bidId: 1, decline: 'sent again' },
    ])
    const closed = machine.handle({ type: 'timer', now: at, timer: { kind: 'window' }, at })
    const award = replies(closed)
    assert.equal(award.length, 1, JSON.stringify(award))
    assert.equal(award[0].type === 'reply' && award[0].bidId, 2)
    assert.ok(award[0].type === 'reply' && award[0].award != null, 'the second bid is awarded')
    assert.equal(machine.view().quorum.awarded.length, 1)
  })

  it('a claim sent again is acknowledged like the first; a different one from the same peer is not', () => {
    const { record, spec } = makeTask(3)
    const machine = new TaskMachine(record, spec, SETTINGS, 0)
    machine.handle({ type: 'start', now: 0 })
    const round = machine.view().record.round
    const effects = [0, 1, 2].flatMap((p) => machine.handle(bid(p + 1, `peer-${p}`, round, 1)))
    const at = windowAt(effects)
    machine.handle({ type: 'timer', now: at, timer: { kind: 'window' }, at })
    assert.equal(machine.view().quorum.awarded.length, 3)
    const claim = claimOf(record.taskId, 'peer-0', true)
    const send = (requestId: number, c: Claim) =>
      replies(machine.handle({ type: 'claim', now: 300, requestId, claim: c, signed: new Uint8Array([0]) }))
    assert.deepEqual(send(10, claim), [{ type: 'ack', requestId: 10, ok: true, reason: '' }])
    assert.deepEqual(send(11, claim), [{ type: 'ack', requestId: 11, ok: true, reason: '' }])
    assert.deepEqual(send(12, claimOf(record.taskId, 'peer-0', false)), [
      { type: 'ack', requestId: 12, ok: false, reason: 'already claimed' },
    ])
  })
})
