import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { toleratedFaults } from '../../src/verification/index.js'
import { BEHAVIOURS, type Behaviour, HONEST_HASH, replay, simulate } from './sim.js'

const NUM_RUNS = 2000
const behaviour = fc.constantFrom(...BEHAVIOURS)
const choices = fc.array(fc.nat({ max: 1000 }), { minLength: 0, maxLength: 120 })

/** k, and at most ⌊(k−1)/2⌋ adversaries of any behaviours (possibly all colluding). */
const tolerated = fc.integer({ min: 1, max: 7 }).chain((k) =>
  fc.record({
    k: fc.constant(k),
    adversaries: fc.array(behaviour, { maxLength: toleratedFaults(k) }),
    choices,
  }),
)

describe('QuorumTask properties', () => {
  it('with at most ⌊(k−1)/2⌋ wrong or silent executors, any event order accepts the honest result', () => {
    fc.assert(
      fc.property(tolerated, ({ k, adversaries, choices }) => {
        const r = simulate({ quorum: { replicas: k }, adversaries, choices })
        assert.equal(r.failed, undefined, `failed: ${r.failed}`)
        assert.equal(r.accepted, HONEST_HASH)
        assert.ok(r.task.executionsCommitted <= 2 * k + 1)
        const verdicts = new Map(r.task.snapshot().verdicts.map((v) => [v.peer, v.verdict]))
        for (const [p, b] of r.behaviours) {
          const v = verdicts.get(p)
          if (b === 'honest') assert.equal(v, 'accepted', `honest ${p} not paid`)
          else if (b === 'silent' || b === 'decline') assert.equal(v, 'timed_out', `${b} ${p}`)
          else if (b === 'late') assert.notEqual(v, 'accepted', `${b} ${p} must not be paid`)
          else if (b === 'copyUnavailable') assert.notEqual(v, 'rejected', `${b} ${p}`)
          else if (b === 'copyMismatch')
            assert.equal(v, r.checked.has(p) ? 'rejected' : 'accepted', `${b} ${p}`)
          else assert.equal(v, 'rejected', `${b} ${p} must not be paid`)
        }
        assert.equal(r.task.snapshot().settled, true)
      }),
      { numRuns: NUM_RUNS },
    )
  })

  it('all colluders together capture a task only when they alone hold a majority of k', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.nat({ max: 6 }), choices, (k, colluders, choices) => {
        const adversaries: Behaviour[] = new Array(colluders).fill('collude')
        const r = simulate({ quorum: { replicas: k }, adversaries, choices })
        if (r.accepted !== undefined && r.accepted !== HONEST_HASH) {
          assert.ok(colluders >= Math.floor(k / 2) + 1, `${colluders} colluders captured a task of k=${k}`)
        }
      }),
      { numRuns: NUM_RUNS },
    )
  })

  it('under any adversaries no order accepts twice, acts after ending, awards a peer twice or exceeds 2k+1', () => {
    const anything = fc.record({
      k: fc.integer({ min: 1, max: 6 }),
      adversaries: fc.array(behaviour, { maxLength: 14 }),
      honestPeers: fc.nat({ max: 8 }),
      choices,
    })
    fc.assert(
      fc.property(anything, ({ k, adversaries, honestPeers, choices }) => {
        // simulate() asserts the safety invariants after every decision.
        const r = simulate({ quorum: { replicas: k }, adversaries, honestPeers, choices })
        assert.ok((r.accepted === undefined) !== (r.failed === undefined), 'ends exactly once')
        assert.ok(r.task.snapshot().awarded.length <= 2 * k + 1)
        assert.equal(new Set(r.task.snapshot().awarded).size, r.task.snapshot().awarded.length)
      }),
      { numRuns: NUM_RUNS },
    )
  })

  it('replaying the journaled events gives the same decisions (determinism contract)', () => {
    const anything = fc.record({
      k: fc.integer({ min: 1, max: 5 }),
      adversaries: fc.array(behaviour, { maxLength: 8 }),
      honestPeers: fc.nat({ max: 8 }),
      choices,
    })
    fc.assert(
      fc.property(anything, ({ k, adversaries, honestPeers, choices }) => {
        const r = simulate({ quorum: { replicas: k }, adversaries, honestPeers, choices })
        assert.deepEqual(replay({ replicas: k }, r.log), r.decisions)
      }),
      { numRuns: NUM_RUNS / 2 },
    )
  })

  it('a single-replica task whose trusted executor fails to deliver falls back and accepts the honest result', () => {
    const nonLying = fc.constantFrom<Behaviour | 'honest'>(
      'honest',
      'silent',
      'decline',
      'copyMismatch',
      'copyUnavailable',
    )
    fc.assert(
      fc.property(nonLying, fc.array(behaviour, { maxLength: 1 }), choices, (first, adversaries, choices) => {
        const r = simulate({
          quorum: { replicas: 1, fallbackReplicas: 3 },
          first: { behaviour: first },
          adversaries,
          choices,
        })
        assert.equal(r.accepted, HONEST_HASH, `failed: ${r.failed}`)
        if (first === 'honest') assert.equal(r.task.snapshot().awarded.length, 1)
        else assert.equal(r.task.replicas, 3)
      }),
      { numRuns: NUM_RUNS / 2 },
    )
  })
})
