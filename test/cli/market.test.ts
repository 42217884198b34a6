import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawn } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { LocalMesh } from '../../src/cli/local-mesh.js'
import { BIN, cli, until } from './helpers.js'

const PRIMES = fileURLToPath(new URL('../../../examples/build/primes.wasm', import.meta.url))

interface JobJson {
  jobId: string
  status: string
  tasks: Array<{ taskId: string; input: string; status: string; outputHash?: string; output?: string | null }>
  waiting?: string
}

describe('submitting jobs with the CLI to a mesh of real daemons', () => {
  const mesh = new LocalMesh(4, () => {}, ['--memory', '1024', '--max-tasks', '2'], BIN)
  let work: string
  let dir: string

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'plusone-submit-'))
    await mkdir(join(work, 'in'))
    for (let i = 0; i < 4; i++)
      await writeFile(join(work, 'in', `r${i}.txt`), `${i * 20000} ${(i + 1) * 20000}`)
    await mesh.start()
    dir = mesh.nodes[0].dataDir
    // the submitter must know the executors before the first job
    await until('capacity records of all 4 nodes', async () => {
      const r = await cli(['nodes', '--json', '--data-dir', dir])
      return JSON.parse(r.stdout).length >= 4 ? true : undefined
    })
  })
  after(async () => {
    await mesh.stop()
    await rm(work, { recursive: true, force: true })
  })

  it('submit --wait --json --out runs every input on 3 replicas and writes outputs a local run agrees with', async () => {
    const out = join(work, 'out')
    const r = await cli([
      'submit',
      PRIMES,
      '--inputs',
      join(work, 'in'),
      '--replicas',
      '3',
      '--wait',
      '--json',
      '--out',
      out,
      '--data-dir',
      dir,
    ])
    assert.equal(r.code, 0, r.stderr)
    const job = JSON.parse(r.stdout) as JobJson
    assert.match(job.jobId, /\S+/)
    assert.equal(job.tasks.length, 4)
    for (const t of job.tasks) {
      assert.equal(t.status, 'done')
      assert.match(t.outputHash ?? '', /^[0-9a-z]+$/i)
      assert.equal(t.output, join(out, t.input))
      const local = await cli([
        'run',
        PRIMES,
        '--input',
        join(work, 'in', t.input),
        '-o',
        join(work, `local-${t.input}`),
      ])
      assert.equal(local.code, 0, local.stderr)
      assert.deepEqual(await readFile(join(out, t.input)), await readFile(join(work, `local-${t.input}`)))
    }

    const status = JSON.parse(
      (await cli(['status', job.jobId, '--json', '--data-dir', dir])).stdout,
    ) as JobJson
    assert.equal(status.status, 'done')
    assert.deepEqual(status.tasks.map((t) => t.taskId).sort(), job.tasks.map((t) => t.taskId).sort())

    const task = job.tasks[0]
    const taskStatus = JSON.parse((await cli(['status', task.taskId, '--json', '--data-dir', dir])).stdout)
    assert.equal(taskStatus.status, 'done')
    const file = join(work, 'result.bin')
    assert.equal((await cli(['result', task.taskId, '-o', file, '--data-dir', dir])).code, 0)
    assert.deepEqual(await readFile(file), await readFile(join(out, task.input)))

    const jobs = JSON.parse((await cli(['jobs', '--json', '--data-dir', dir])).stdout) as JobJson[]
    assert.ok(jobs.some((j) => j.jobId === job.jobId))
    const tasks = JSON.parse((await cli(['tasks', '--json', '--data-dir', dir])).stdout) as Array<{
      taskId: string
    }>
    assert.ok(job.tasks.every((t) => tasks.some((x) => x.taskId === t.taskId)))
  })

  it('ledger shows the credits the job cost, backed by signed receipts anyone can export', async () => {
    type LedgerJson = {
      balance: number
      spent: number
      peers: Array<{ peerId: string; accepted: number; balance: number }>
      receipts: { stored: number }
    }
    // settlement follows acceptance and waits for every awarded replica to answer or miss its
    // deadline; wait for that, then every receipt that will ever come is in the ledger
    const tasks = await until(
      'every task of the job settled',
      async () => {
        const ts = JSON.parse((await cli(['tasks', '--json', '--data-dir', dir])).stdout) as Array<{
          settled: boolean
        }>
        return ts.length >= 4 && ts.every((t) => t.settled) ? ts : undefined
      },
      240,
    )
    const l = JSON.parse((await cli(['ledger', '--json', '--data-dir', dir])).stdout) as LedgerJson
    assert.ok(l.spent > 0 && l.balance === -l.spent, 'the submitter paid for the job')
    // each of the 4 tasks at k=3 pays its agreeing majority (at least 2) and at most its 3
    // replicas: a replica that missed its deadline on a loaded machine is not paid
    assert.ok(
      l.receipts.stored >= 8 && l.receipts.stored <= 12,
      `between 8 and 12 receipts, got ${l.receipts.stored}: ${JSON.stringify(tasks)}`,
    )
    const paid = l.peers.reduce((sum, p) => sum + p.balance, 0)
    assert.ok(Math.abs(paid - l.spent) < 1e-6, 'what executors earned is what the submitter spent')
    const csv = await cli(['ledger', '--export', 'csv', '--data-dir', dir])
    assert.equal(csv.code, 0, csv.stderr)
    assert.equal(csv.stdout.trim().split('\n').length, l.receipts.stored + 1, 'a header and every receipt')
  })

  it('logs -f follows the daemon: a submitted job shows up as it finishes', async () => {
    const child = spawn(process.execPath, [BIN, 'logs', '-f', '--json', '--data-dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    const following = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('logs -f did not connect in 30 s')), 30_000)
      child.stderr.on('data', (d) => {
        if (String(d).includes('following')) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    const sawJob = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no job event in 60 s:\n${out}`)), 60_000)
      child.stdout.on('data', (d) => {
        out += d
        if (/"type":"job".*"status":"done"/.test(out)) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    try {
      // submit only once the stream is open, so no event can be missed
      await following
      const r = await cli([
        'submit',
        PRIMES,
        '--input',
        join(work, 'in', 'r1.txt'),
        '--replicas',
        '3',
        '--wait',
        '--data-dir',
        dir,
      ])
      assert.equal(r.code, 0, r.stderr)
      await sawJob
      const events = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string })
      assert.ok(
        events.some((e) => e.type === 'task'),
        'task events are printed too',
      )
    } finally {
      child.kill('SIGINT')
    }
  })

  it('a task nobody can run says why it waits, and cancel stops it', async () => {
    const r = await cli([
      'submit',
      PRIMES,
      '--input',
      join(work, 'in', 'r0.txt'),
      '--memory',
      '4096',
      '--data-dir',
      dir,
    ])
    assert.equal(r.code, 0, r.stderr)
    const jobId = r.stdout.trim()
    const waiting = await until('a waiting explanation', async () => {
      const s = JSON.parse((await cli(['status', jobId, '--json', '--data-dir', dir])).stdout) as JobJson
      return s.waiting?.includes('memory') ? s.waiting : undefined
    })
    assert.match(waiting, /0 of 3 known nodes offer 4 GiB of memory/)
    const c = await cli(['cancel', jobId, '--data-dir', dir])
    assert.equal(c.code, 0, c.stderr)
    const s = JSON.parse((await cli(['status', jobId, '--json', '--data-dir', dir])).stdout) as JobJson
    assert.equal(s.status, 'cancelled')
    // a finished (here cancelled) job is removed with its blobs; then this node no longer knows it
    const removed = await until('jobs rm once the cancelled job has settled', async () => {
      const x = await cli(['jobs', 'rm', jobId, '--data-dir', dir])
      return x.code === 0 ? x : undefined
    })
    assert.match(removed.stdout, new RegExp(`^removed job ${jobId} \\(\\d+ blobs? deleted\\)`))
    const jobs = JSON.parse((await cli(['jobs', '--json', '--data-dir', dir])).stdout) as JobJson[]
    assert.ok(!jobs.some((j) => j.jobId === jobId), 'the job is no longer listed')
    const again = await cli(['jobs', 'rm', jobId, '--data-dir', dir])
    assert.equal(again.code, 3, 'exit code 3: no such job')
    assert.match(again.stderr, /no job/)
  })

  it('bad usage and unknown ids give one line and a non-zero exit code', async () => {
    const both = await cli(['submit', PRIMES, '--input', 'a', '--inputs', 'b', '--data-dir', dir])
    assert.equal(both.code, 2)
    assert.match(both.stderr, /exactly one of --input FILE or --inputs DIR/)
    const missing = await cli([
      'submit',
      join(work, 'nope.wasm'),
      '--input',
      join(work, 'in', 'r0.txt'),
      '--data-dir',
      dir,
    ])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /cannot read module/)
    const unknown = await cli(['status', 'no-such-id', '--data-dir', dir])
    assert.notEqual(unknown.code, 0)
    assert.equal(unknown.stderr.trim().split('\n').length, 1)
  })
})
