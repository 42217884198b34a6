import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { AdaptiveReplication, InvalidQuorumOptionsError, QuorumTask } from '../../src/verification/index.js'

describe('AdaptiveReplication', () => {
  const policy = new AdaptiveReplication()

  it('replicates every task of an executor that has not yet earned trust', () => {
    assert.deepEqual(policy.plan('p', 19, 0.99), { quorum: { replicas: 3 }, spotCheck: false })
  })

  it('gives a trusted executor a single-replica task that falls back to 3 replicas', () => {
    const plan = policy.plan('p', 20, 0.5)
    assert.deepEqual(plan, {
      quorum: { replicas: 1, fallbackReplicas: 3 },
      onlyExecutor: 'p',
      spotCheck: false,
    })
    assert.doesNotThrow(() => new QuorumTask(plan.quorum))
  })

  it('spot-checks a trusted executor when the random value falls below the probability', () => {
    assert.deepEqual(policy.plan('p', 50, 0.05), { quorum: { replicas: 3 }, spotCheck: true })
  })

  it('counts only results verified by replication, and one wrong answer resets trust', () => {
    assert.equal(policy.nextRun(4, 'accepted', 3), 5)
    assert.equal(policy.nextRun(4, 'accepted', 1), 4, 'a single-replica result verifies nothing')
    assert.equal(policy.nextRun(4, 'timed_out', 3), 4)
    assert.equal(policy.nextRun(40, 'rejected', 3), 0)
  })

  it('states its cost and risk in numbers for the defaults', () => {
    assert.ok(Math.abs(policy.expectedExecutionsPerTrustedTask() - 1.2) < 1e-9)
    assert.ok(Math.abs(policy.expectedLiesAcceptedPerDetection() - 9) < 1e-9)
  })

  it('spot-checks at the configured rate, measured over many random values', () => {
    const n = 10_000
    let checks = 0
    for (let i = 0; i < n; i++) if (policy.plan('p', 20, (i + 0.5) / n).spotCheck) checks++
    assert.equal(checks, 1000)
  })

  it('a liar that lies on every trusted task has about (1−p)/p lies accepted per detection', () => {
    // Deterministic "random" stream: a linear congruential generator seeded per run.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 2 }), (seed) => {
        let s = seed
        const random = (): number => {
          s = (s * 48271) % 2147483647
          return s / 2147483647
        }
        let run = 20
        let accepted = 0
        let detections = 0
        for (let task = 0; task < 4000; task++) {
          const plan = policy.plan('liar', run, random())
          if (plan.quorum.replicas === 1) accepted++
          else if (policy.isTrusted(run)) {
            detections++
            run = policy.nextRun(run, 'rejected', 3)
          } else run = policy.nextRun(run, 'accepted', 3) // behaves while untrusted
        }
        const perDetection = accepted / detections
        assert.ok(perDetection > 6 && perDetection < 13, `${perDetection} lies accepted per detection`)
      }),
      { numRuns: 20 },
    )
  })

  it('rejects options out of range', () => {
    assert.throws(() => new AdaptiveReplication({ replicas: 1 }), InvalidQuorumOptionsError)
    assert.throws(() => new AdaptiveReplication({ spotCheckProbability: 1.5 }), /spotCheckProbability/)
    assert.throws(() => new AdaptiveReplication({ trustThreshold: 0 }), /trustThreshold/)
  })
})
