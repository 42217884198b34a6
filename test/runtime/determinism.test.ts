import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Outcome, outcomeHash, RuntimePool, type TaskLimits } from '../../src/runtime/index.js'
import { enc, example, hex, u32le } from './helpers.js'

const LIMITS: TaskLimits = {
  fuel: 5_000_000_000n,
  memoryBytes: 64 * 1024 * 1024,
  maxOutputBytes: 1024 * 1024,
}

const TASKS: [string, Uint8Array][] = [
  ['sha256', new Uint8Array([...u32le(300), ...enc('plusone')])],
  ['mandelbrot', enc('64 64 0 0 64 64 200')],
  ['montecarlo_pi', enc('20000')],
  ['primes', enc('0 20000')],
  ['wat/nan', enc('')],
  ['wat/infinite_loop', enc('')],
]

const summary = (o: Outcome) =>
  `${o.status}/${o.code}/${o.fuelUsed}/${hex(o.outputHash)}/${hex(outcomeHash(o))}`

describe('determinism', () => {
  let pool: RuntimePool
  before(() => {
    pool = new RuntimePool({ workers: 2 })
    pool.start()
  })
  after(() => pool.stop())

  for (const [name, input] of TASKS) {
    it(`${name}: same outcome, output and fuel across 20 runs and both workers`, async () => {
      const module = example(name)
      const limits = name.includes('infinite') ? { ...LIMITS, fuel: 10_000_000n } : LIMITS
      // 20 concurrent runs spread over both workers, plus a fresh pool for a cold compile
      const runs = await Promise.all(
        Array.from({ length: 20 }, () => pool.run({ module, input, taskId: enc('task-1'), limits })),
      )
      const fresh = new RuntimePool({ workers: 1 })
      fresh.start()
      try {
        runs.push(await fresh.run({ module, input, taskId: enc('task-1'), limits }))
      } finally {
        await fresh.stop()
      }
      const first = summary(runs[0]!)
      for (const o of runs) assert.equal(summary(o), first)
      assert.ok(runs[0]!.fuelUsed > 0n)
    })
  }

  it('examples compute what they claim', async () => {
    const run = (name: string, input: Uint8Array) =>
      pool.run({ module: example(name), input, taskId: enc('t'), limits: LIMITS })
    const sha = await run('sha256', new Uint8Array([...u32le(1), ...enc('hello')]))
    assert.equal(hex(sha.output), '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824')
    const sha2 = await run('sha256', new Uint8Array([...u32le(2), ...enc('hello')]))
    assert.equal(hex(sha2.output), '9595c9df90075148eb06860365df33584b75bff782a510c6cd4883a419833d50')
    const primes = await run('primes', enc('0 100'))
    assert.equal(new TextDecoder().decode(primes.output), 'primes in [0, 100): 25, sum 1060, largest 97\n')
    const tile = await run('mandelbrot', enc('32 32 0 0 32 16 50'))
    assert.equal(tile.output.length, 32 * 16)
    const pi = await run('montecarlo_pi', enc('10000'))
    assert.match(new TextDecoder().decode(pi.output), /^pi ~ 3\.\d+ \(\d+\/10000\)\n$/)
  })

  it('the seed comes from the task id: Monte Carlo differs across ids and repeats for one id', async () => {
    const run = (id: string) =>
      pool.run({ module: example('montecarlo_pi'), input: enc('5000'), taskId: enc(id), limits: LIMITS })
    const [a1, a2, b] = await Promise.all([run('a'), run('a'), run('b')])
    assert.equal(hex(a1.output), hex(a2.output))
    assert.notEqual(hex(a1.output), hex(b.output))
  })

  it('reports progress without changing the outcome', async () => {
    const seen: number[] = []
    const module = example('wat/echo')
    const quiet = await pool.run({ module, input: enc('hi'), taskId: enc('p'), limits: LIMITS })
    const loud = await pool.run({
      module,
      input: enc('hi'),
      taskId: enc('p'),
      limits: LIMITS,
      onProgress: (p) => seen.push(p),
    })
    assert.deepEqual(seen, [500, 1000])
    assert.equal(summary(loud), summary(quiet))
  })
})
