import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type QuorumDecision,
  type QuorumEvent,
  QuorumTask,
  QuorumUsageError,
  quorumSize,
  toleratedFaults,
} from '../../src/verification/index.js'

/** Applies events in order and returns every decision, starting with those of start(). */
function run(task: QuorumTask, events: QuorumEvent[]): QuorumDecision[] {
  const out = task.start()
  for (const e of events) out.push(...task.apply(e))
  return out
}

const awarded = (peer: string): QuorumEvent => ({ type: 'awarded', peer })
const claim = (peer: string, resultHash: string): QuorumEvent => ({ type: 'claim', peer, resultHash })
const missed = (peer: string): QuorumEvent => ({ type: 'deadlineMissed', peer })
const ok = (peer: string): QuorumEvent => ({ type: 'outputChecked', peer, outcome: 'ok' })
const of = <T extends QuorumDecision['type']>(ds: QuorumDecision[], type: T) =>
  ds.filter((d): d is Extract<QuorumDecision, { type: T }> => d.type === type)

describe('quorum sizes', () => {
  it('a strict majority of k is ⌊k/2⌋+1 and tolerates ⌊(k−1)/2⌋ faults', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 7].map(quorumSize), [1, 2, 2, 3, 3, 4])
    assert.deepEqual([1, 2, 3, 4, 5, 7].map(toleratedFaults), [0, 0, 1, 1, 2, 3])
  })
})

describe('QuorumTask', () => {
  it('awards k peers at start and accepts when two of three agree and the output checks out', () => {
    const task = new QuorumTask({ replicas: 3 })
    const ds = run(task, [awarded('a'), awarded('b'), awarded('c'), claim('a', 'H'), claim('b', 'H')])
    assert.deepEqual(ds[0], { type: 'award', count: 3, exclude: [] })
    assert.deepEqual(ds.at(-1), { type: 'fetchOutput', peer: 'a', resultHash: 'H' })
    const after = task.apply(ok('a'))
    assert.deepEqual(after[0], { type: 'accept', resultHash: 'H', members: ['a', 'b'], outputFrom: 'a' })
    assert.equal(task.phase, 'accepted')
    assert.equal(of(after, 'settled').length, 0, 'c is still running')
    const late = task.apply(claim('c', 'H'))
    assert.deepEqual(of(late, 'verdict'), [
      { type: 'verdict', peer: 'c', verdict: 'accepted', resultHash: 'H' },
    ])
    assert.equal(of(late, 'settled')[0].verdicts.length, 3)
  })

  it('accepts A after claims A and B when a reissue also claims A (2 of the 3 needed)', () => {
    const task = new QuorumTask({ replicas: 3 })
    const ds = run(task, [
      awarded('a'),
      awarded('b'),
      awarded('c'),
      claim('a', 'A'),
      claim('b', 'B'),
      missed('c'),
    ])
    assert.deepEqual(ds.at(-1), { type: 'award', count: 1, exclude: ['a', 'b', 'c'] })
    const more = [...task.apply(awarded('d')), ...task.apply(claim('d', 'A')), ...task.apply(ok('a'))]
    assert.deepEqual(of(more, 'accept')[0].members, ['a', 'd'])
    assert.deepEqual(
      task.snapshot().verdicts.map((v) => `${v.peer}:${v.verdict}`),
      ['a:accepted', 'b:rejected', 'c:timed_out', 'd:accepted'],
    )
    assert.equal(task.snapshot().settled, true)
  })

  it('waits while the replicas still out could form a majority, and reissues only when they cannot', () => {
    const task = new QuorumTask({ replicas: 3 })
    const ds = run(task, [awarded('a'), awarded('b'), awarded('c'), claim('a', 'A'), claim('b', 'B')])
    assert.equal(of(ds, 'award').length, 1, 'c could still agree with a or b')
    assert.deepEqual(task.apply(claim('c', 'C')), [{ type: 'award', count: 1, exclude: ['a', 'b', 'c'] }])
  })

  it('reissues after a missed deadline when no majority is left possible', () => {
    const task = new QuorumTask({ replicas: 3 })
    run(task, [awarded('a'), awarded('b'), awarded('c'), missed('a')])
    const ds = task.apply(missed('b'))
    assert.deepEqual(ds, [
      { type: 'verdict', peer: 'b', verdict: 'timed_out', resultHash: undefined },
      { type: 'award', count: 1, exclude: ['a', 'b', 'c'] },
    ])
  })

  it('fails with a stated reason after 2k+1 executions give no majority', () => {
    const task = new QuorumTask({ replicas: 3 })
    const peers = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']
    const events = peers.flatMap((p, i) => [awarded(p), claim(p, `R${i}`)])
    events.splice(7, 1, missed('p4'))
    const ds = run(task, events)
    assert.equal(task.executionsCommitted, 7)
    const fail = of(ds, 'fail')
    assert.equal(fail.length, 1)
    assert.equal(
      fail[0].reason,
      '7 executions gave 6 different results, 1 missed the deadline; no result can reach the 2 matching claims ' +
        'that a majority of 3 needs within the limit of 7 executions',
    )
    assert.ok(task.snapshot().verdicts.every((v) => v.verdict !== 'accepted'))
    assert.equal(of(ds, 'settled').length, 1)
  })

  it('rejects a member whose output does not match its claim and asks the next member', () => {
    const task = new QuorumTask({ replicas: 3 })
    run(task, [awarded('a'), awarded('b'), awarded('c'), claim('a', 'H'), claim('b', 'H'), claim('c', 'H')])
    const ds = task.apply({ type: 'outputChecked', peer: 'a', outcome: 'mismatch' })
    assert.deepEqual(ds, [
      { type: 'verdict', peer: 'a', verdict: 'rejected', resultHash: 'H' },
      { type: 'fetchOutput', peer: 'b', resultHash: 'H' },
    ])
    assert.equal(of(task.apply(ok('b')), 'accept')[0].outputFrom, 'b')
  })

  it('resumes collecting when a mismatch leaves the group without a majority', () => {
    const task = new QuorumTask({ replicas: 3 })
    run(task, [awarded('a'), awarded('b'), awarded('c'), claim('a', 'H'), claim('b', 'H'), claim('c', 'X')])
    const ds = task.apply({ type: 'outputChecked', peer: 'a', outcome: 'mismatch' })
    assert.deepEqual(ds.at(-1), { type: 'award', count: 1, exclude: ['a', 'b', 'c'] })
    assert.equal(task.phase, 'collecting')
  })

  it('treats a group none of whose members can serve the output as not delivered', () => {
    const task = new QuorumTask({ replicas: 3 })
    run(task, [awarded('a'), awarded('b'), awarded('c'), claim('a', 'H'), claim('b', 'H'), missed('c')])
    task.apply({ type: 'outputChecked', peer: 'a', outcome: 'unavailable' })
    const ds = task.apply({ type: 'outputChecked', peer: 'b', outcome: 'unavailable' })
    assert.deepEqual(
      of(ds, 'verdict').map((v) => `${v.peer}:${v.verdict}`),
      ['a:timed_out', 'b:timed_out'],
    )
    assert.deepEqual(ds.at(-1), { type: 'award', count: 2, exclude: ['a', 'b', 'c'] })
  })

  it('never awards the same peer twice nor more peers than requested', () => {
    const task = new QuorumTask({ replicas: 2 })
    task.start()
    task.apply(awarded('a'))
    assert.throws(
      () => task.apply(awarded('a')),
      (e: Error) => e.name === QuorumUsageError.name,
    )
    task.apply(awarded('b'))
    assert.throws(() => task.apply(awarded('c')), /no award was requested/)
  })

  it('ignores claims from strangers, second claims and claims after a missed deadline', () => {
    const task = new QuorumTask({ replicas: 3 })
    run(task, [awarded('a'), awarded('b'), awarded('c'), claim('a', 'H'), missed('b')])
    for (const e of [claim('mallory', 'H'), claim('a', 'X'), claim('b', 'H')]) {
      assert.equal(task.apply(e)[0].type, 'ignored')
    }
    assert.deepEqual(task.snapshot().groups, [{ resultHash: 'H', members: ['a'] }])
  })

  it('a single-replica task falls back to full replication when its trusted executor misses the deadline', () => {
    const task = new QuorumTask({ replicas: 1, fallbackReplicas: 3 })
    const ds = run(task, [awarded('t'), missed('t')])
    assert.deepEqual(ds.at(-1), { type: 'award', count: 2, exclude: ['t'] })
    assert.equal(task.replicas, 3)
    assert.equal(task.maxExecutions, 7)
  })

  it('a single-replica task accepts its one claim once the output is checked', () => {
    const task = new QuorumTask({ replicas: 1, fallbackReplicas: 3 })
    const ds = run(task, [awarded('t'), claim('t', 'H'), ok('t')])
    assert.deepEqual(of(ds, 'accept')[0].members, ['t'])
    assert.equal(of(ds, 'settled').length, 1)
  })

  it('abort fails the task with the given reason and later claims are rejected', () => {
    const task = new QuorumTask({ replicas: 3 })
    run(task, [awarded('a'), claim('a', 'H')])
    const ds = task.apply({ type: 'abort', reason: 'cancelled by the user' })
    assert.deepEqual(ds.slice(0, 2), [
      { type: 'fail', reason: 'cancelled by the user' },
      { type: 'verdict', peer: 'a', verdict: 'rejected', resultHash: 'H' },
    ])
    assert.throws(() => task.apply(awarded('b')), QuorumUsageError)
  })

  it('rejects events before start() and a second start()', () => {
    const task = new QuorumTask({ replicas: 3 })
    assert.throws(() => task.apply(claim('a', 'H')), QuorumUsageError)
    task.start()
    assert.throws(() => task.start(), QuorumUsageError)
  })

  it('rejects options that make no sense', () => {
    assert.throws(() => new QuorumTask({ replicas: 0 }), /replicas must be an integer/)
    assert.throws(() => new QuorumTask({ replicas: 3, maxExecutions: 2 }), /maxExecutions/)
    assert.throws(
      () => new QuorumTask({ replicas: 3, fallbackReplicas: 5 }),
      /fallbackReplicas needs replicas = 1/,
    )
  })
})
