/**
 * A deterministic simulator for property tests of QuorumTask: a driver that carries out the
 * machine's decisions, executors with behaviours, and an adversarial scheduler that picks the next
 * thing to happen from a list of choices (drawn by fast-check). It checks the safety invariants
 * after every step and throws an AssertionError naming the broken one.
 */
import assert from 'node:assert/strict'
import {
  type OutputCheck,
  type QuorumDecision,
  type QuorumEvent,
  type QuorumInit,
  QuorumTask,
  quorumSize,
} from '../../src/verification/index.js'

export const HONEST_HASH = 'H'

/**
 * - `wrong`: claims a wrong result of its own (no two agree) and serves matching bytes for it.
 * - `collude`: claims the same wrong result as every other colluder and serves matching bytes.
 * - `silent`: wins the award and never answers (its deadline passes).
 * - `decline`: declines after the award.
 * - `copyMismatch`: claims the honest hash without computing, then serves bytes that do not match.
 * - `copyUnavailable`: claims the honest hash, then never serves the output.
 * - `late`: misses the deadline and then claims a wrong result anyway.
 */
export type Behaviour =
  | 'wrong'
  | 'collude'
  | 'silent'
  | 'decline'
  | 'copyMismatch'
  | 'copyUnavailable'
  | 'late'
export const BEHAVIOURS: readonly Behaviour[] = [
  'wrong',
  'collude',
  'silent',
  'decline',
  'copyMismatch',
  'copyUnavailable',
  'late',
]

export interface SimResult {
  task: QuorumTask
  decisions: QuorumDecision[]
  /** Every event applied, in order, for replay. */
  log: QuorumEvent[]
  accepted?: string
  failed?: string
  honestAwarded: string[]
  /** Behaviour of every awarded peer. */
  behaviours: ReadonlyMap<string, Behaviour | 'honest'>
  /** Outcome of every output check, by peer. */
  checked: ReadonlyMap<string, OutputCheck>
}

export interface SimInit {
  quorum: QuorumInit
  /** Behaviours of the adversarial peers, each of which may be awarded once. */
  adversaries: readonly Behaviour[]
  /** Honest peers available; unlimited when undefined. */
  honestPeers?: number
  /** Scheduler choices; once used up the scheduler always picks the first possible action. */
  choices: readonly number[]
  /** Peer that must receive the very first award (a trusted executor), and its behaviour. */
  first?: { behaviour: Behaviour | 'honest' }
  maxSteps?: number
}

type Action = () => void

export function simulate(init: SimInit): SimResult {
  const task = new QuorumTask(init.quorum)
  const decisions: QuorumDecision[] = []
  const log: QuorumEvent[] = []
  const behaviourOf = new Map<string, Behaviour | 'honest'>()
  const unusedAdversaries = init.adversaries.map((b, i) => ({ peer: `adv${i}`, b }))
  const inflight: QuorumEvent[] = []
  const verdicted = new Set<string>()
  const everAwarded: string[] = []
  let pendingAwards = 0
  let fetchFrom: string | undefined
  let lastCheck: { peer: string; outcome: OutputCheck } | undefined
  const checked = new Map<string, OutputCheck>()
  let accepts = 0
  let fails = 0
  let settles = 0
  let honestUsed = 0
  let terminal = false
  let result: Pick<SimResult, 'accepted' | 'failed'> = {}

  const handle = (ds: QuorumDecision[]): void => {
    for (const d of ds) {
      decisions.push(d)
      if (terminal) {
        assert.ok(
          ['verdict', 'settled', 'ignored'].includes(d.type),
          `decision ${d.type} after the task ended`,
        )
      }
      switch (d.type) {
        case 'award':
          assert.deepEqual(
            [...d.exclude].sort(),
            [...everAwarded].sort(),
            'exclude must list every peer that had the task',
          )
          pendingAwards += d.count
          break
        case 'fetchOutput':
          assert.equal(fetchFrom, undefined, 'two output fetches at once')
          assert.ok(everAwarded.includes(d.peer))
          fetchFrom = d.peer
          break
        case 'accept': {
          accepts++
          terminal = true
          result = { accepted: d.resultHash }
          const q = quorumSize(task.replicas)
          assert.ok(d.members.length >= q, `accepted with ${d.members.length} claims, ${q} needed`)
          assert.equal(new Set(d.members).size, d.members.length, 'a member counted twice')
          assert.deepEqual(
            lastCheck,
            { peer: d.outputFrom, outcome: 'ok' },
            'accepted without a checked output',
          )
          break
        }
        case 'fail':
          fails++
          terminal = true
          result = { failed: d.reason }
          pendingAwards = 0
          break
        case 'verdict':
          assert.ok(!verdicted.has(d.peer), `two verdicts for ${d.peer}`)
          assert.ok(everAwarded.includes(d.peer), `verdict for ${d.peer}, never awarded`)
          verdicted.add(d.peer)
          break
        case 'settled':
          settles++
          assert.deepEqual(
            d.verdicts.map((v) => v.peer).sort(),
            [...everAwarded].sort(),
            'settled without all verdicts',
          )
          break
        case 'ignored':
          break
      }
      assert.ok(accepts + fails <= 1, 'the task ended twice')
      assert.ok(settles <= 1, 'settled twice')
      assert.ok(task.executionsCommitted <= task.maxExecutions, 'execution bound exceeded')
    }
  }

  const apply = (e: QuorumEvent): void => {
    log.push(e)
    handle(task.apply(e))
  }

  const award = (peer: string, b: Behaviour | 'honest'): void => {
    pendingAwards--
    behaviourOf.set(peer, b)
    everAwarded.push(peer)
    apply({ type: 'awarded', peer })
    const wrong = `W-${peer}`
    switch (b) {
      case 'honest':
      case 'copyMismatch':
      case 'copyUnavailable':
        inflight.push({ type: 'claim', peer, resultHash: HONEST_HASH })
        break
      case 'wrong':
        inflight.push({ type: 'claim', peer, resultHash: wrong })
        break
      case 'collude':
        inflight.push({ type: 'claim', peer, resultHash: 'COLLUDED' })
        break
      case 'silent':
        inflight.push({ type: 'deadlineMissed', peer })
        break
      case 'decline':
        inflight.push({ type: 'declined', peer })
        break
      case 'late':
        inflight.push({ type: 'deadlineMissed', peer }, { type: 'claim', peer, resultHash: wrong })
        break
    }
  }

  const serve = (peer: string): OutputCheck => {
    const b = behaviourOf.get(peer)
    if (b === 'copyMismatch') return 'mismatch'
    if (b === 'copyUnavailable') return 'unavailable'
    return 'ok'
  }

  handle(task.start())
  const maxSteps = init.maxSteps ?? 400
  for (let step = 0; step < maxSteps; step++) {
    const actions: Action[] = []
    if (pendingAwards > 0) {
      if (init.first !== undefined && everAwarded.length === 0) {
        const b = init.first.behaviour
        actions.push(() => award('trusted', b))
      } else {
        for (const a of unusedAdversaries) {
          actions.push(() => {
            unusedAdversaries.splice(unusedAdversaries.indexOf(a), 1)
            award(a.peer, a.b)
          })
        }
        if (init.honestPeers === undefined || honestUsed < init.honestPeers) {
          actions.push(() => award(`honest${honestUsed++}`, 'honest'))
        }
      }
    }
    inflight.forEach((e, i) => {
      actions.push(() => {
        inflight.splice(i, 1)
        apply(e)
      })
    })
    if (fetchFrom !== undefined) {
      const peer = fetchFrom
      actions.push(() => {
        fetchFrom = undefined
        lastCheck = { peer, outcome: serve(peer) }
        checked.set(peer, lastCheck.outcome)
        apply({ type: 'outputChecked', peer, outcome: lastCheck.outcome })
      })
    }
    if (actions.length === 0) break
    actions[(init.choices[step] ?? 0) % actions.length]()
  }
  if (!terminal) {
    // Nobody left to bid: the driver gives up, which must end the task cleanly.
    apply({ type: 'abort', reason: 'no more bidders' })
    assert.equal(fails, 1, 'abort must fail an unfinished task')
  }
  return {
    task,
    decisions,
    log,
    ...result,
    behaviours: behaviourOf,
    checked,
    honestAwarded: everAwarded.filter((p) => behaviourOf.get(p) === 'honest'),
  }
}

/** Replays a log into a fresh task and returns its decisions. */
export function replay(init: QuorumInit, log: readonly QuorumEvent[]): QuorumDecision[] {
  const task = new QuorumTask(init)
  const out = task.start()
  for (const e of log) out.push(...task.apply(e))
  return out
}
