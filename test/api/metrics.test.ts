import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { existsSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { API_TOKEN_FILE } from '../../src/config.js'
import { type ApiAccess, api, apiOf, nextEvent, primesJob, realMesh, until } from './helpers.js'

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p))
const PROMETHEUS = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => existsSync(p))

/** A loopback port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Runs a real Prometheus that scrapes `target` every second with the daemon's token file. */
async function prometheus(
  dir: string,
  target: string,
  tokenFile: string,
): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort()
  const config = join(dir, 'prometheus.yml')
  await writeFile(
    config,
    `global: { scrape_interval: 1s, scrape_timeout: 1s }
scrape_configs:
  - job_name: plusone
    static_configs: [{ targets: ['${target}'] }]
    authorization: { type: Bearer, credentials_file: '${tokenFile}' }
`,
  )
  const child = spawn(
    PROMETHEUS as string,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=error',
    ],
    { stdio: 'ignore' },
  )
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode == null && child.signalCode == null) child.kill('SIGTERM')
      await exited
    },
  }
}

async function scrape(
  a: ApiAccess,
  token = a.token,
): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`${a.url}/metrics`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  })
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() }
}

/** The value of one sample (`name` or `name{labels}`), or 0 when it is absent. */
function sample(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1))
  }
  return 0
}

/** Families plusone defines itself (libp2p's kad-dht metrics share the prefix `plusone_dht_`). */
function ownFamily(name: string): boolean {
  return name.startsWith('plusone_') && !name.startsWith('plusone_dht_')
}

function promtool(text: string): { code: number | null; problems: string[] } {
  const r = spawnSync(PROMTOOL as string, ['check', 'metrics'], {
    input: text,
    encoding: 'utf8',
    timeout: 30_000,
  })
  const problems = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '')
  return { code: r.status, problems }
}

describe('GET /metrics on a real daemon', () => {
  // a submitter and one executor (fewer processes start faster on a busy machine)
  const mesh = realMesh(2)
  let submitter: ApiAccess
  let executors: ApiAccess[]

  before(async () => {
    await mesh.start()
    ;[submitter, ...executors] = await Promise.all(mesh.nodes.map((n) => apiOf(n.dataDir)))
    await until('capacity records of both nodes', async () => {
      const nodes = await api<unknown[]>(submitter, '/nodes')
      return nodes.length >= 2 ? true : undefined
    })
  })
  after(() => mesh.stop())

  it('refuses a scrape without the token, or with a wrong one', async () => {
    const bare = await fetch(`${submitter.url}/metrics`, { signal: AbortSignal.timeout(10_000) })
    assert.equal(bare.status, 401)
    assert.doesNotMatch(await bare.text(), /plusone_/)
    assert.equal((await scrape(submitter, 'f'.repeat(64))).status, 401)
  })

  it('running a job moves the task, job, bid, execution and fuel counters', async () => {
    const before = (await scrape(submitter)).body
    assert.equal(sample(before, 'plusone_tasks_total{outcome="done"}'), 0)
    const done = await nextEvent<{ type: string; status?: string; jobId?: string }>(
      submitter,
      (e) => e.type === 'job' && e.status !== 'running',
      AbortSignal.timeout(120_000),
    )
    const job = await api<{ jobId: string }>(submitter, '/jobs', await primesJob(['0 20000', '20000 40000']))
    const finished = await done.event
    assert.equal(finished.jobId, job.jobId)
    assert.equal(finished.status, 'done')

    const after = await scrape(submitter)
    assert.equal(after.status, 200)
    assert.match(after.type, /^text\/plain; version=0\.0\.4/)
    assert.equal(sample(after.body, 'plusone_tasks_total{outcome="done"}'), 2)
    assert.equal(sample(after.body, 'plusone_jobs_total{outcome="done"}'), 1)
    assert.ok(sample(after.body, 'plusone_bids_received_total{decision="award"}') >= 2)
    // settlement (verdicts, receipts) follows the job's end; it emits no event of its own
    const settled = await until('both tasks settled', async () => {
      const { body } = await scrape(submitter)
      return sample(body, 'plusone_verdicts_total{verdict="accepted"}') >= 2 ? body : undefined
    })
    assert.equal(sample(settled, 'plusone_verification_disagreements_total'), 0)
    assert.equal(sample(settled, 'plusone_reissues_total'), 0)
    assert.ok(sample(after.body, 'plusone_blob_stored_bytes') > 0, 'the module and inputs are stored')

    const executed = await Promise.all(executors.map(async (e) => (await scrape(e)).body))
    const total = (series: string) => executed.reduce((n, text) => n + sample(text, series), 0)
    assert.equal(total('plusone_executions_total{status="ok"}'), 2)
    assert.ok(total('plusone_execution_fuel_total') > 0)
    assert.ok(total('plusone_awards_won_total') >= 2)
    assert.equal(total('plusone_executions_running'), 0)
  })

  it('a real Prometheus scrapes it with the token file as credentials_file', async (t) => {
    if (PROMETHEUS == null) {
      t.skip('prometheus is not installed (Debian package prometheus); skipping the scrape')
      return
    }
    const dir = await mkdtemp(join(tmpdir(), 'plusone-prometheus-'))
    const server = await prometheus(
      dir,
      new URL(submitter.url).host,
      join(mesh.nodes[0].dataDir, API_TOKEN_FILE),
    )
    try {
      const done = await until(
        'Prometheus to scrape plusone_tasks_total',
        async () => {
          const res = await fetch(`${server.url}/api/v1/query?query=plusone_tasks_total`).catch(
            () => undefined,
          )
          if (res?.ok !== true) return undefined
          const { data } = (await res.json()) as {
            data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> }
          }
          return data.result.find((r) => r.metric.outcome === 'done')
        },
        120,
      )
      assert.equal(done.metric.job, 'plusone')
      assert.equal(done.value[1], '2')
    } finally {
      await server.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it("serves libp2p's metrics in the same scrape", async () => {
    const { body } = await scrape(submitter)
    assert.match(body, /^libp2p_connection_manager_connections\{/m)
    assert.match(body, /^plusone_dht_routing_table_size /m)
    assert.match(body, /^# TYPE plusone_tasks_total counter$/m)
  })

  it('is valid Prometheus text: promtool parses it all and finds nothing to fix in plusone_ metrics', async (t) => {
    if (PROMTOOL == null) {
      t.skip('promtool is not installed (Debian package prometheus); skipping the format check')
      return
    }
    const { body } = await scrape(submitter)
    const all = promtool(body)
    // 0: clean; 3: lint findings only (libp2p's and Node's own names); 1 would be a parse error
    assert.ok(all.code === 0 || all.code === 3, all.problems.join('\n'))
    const ours = all.problems.filter((p) => ownFamily(p.split(' ')[0]))
    assert.deepEqual(ours, [])

    const own = body
      .split('\n')
      .filter((l) => {
        const name = l.startsWith('#') ? l.split(' ')[2] : l.split(/[{ ]/)[0]
        return name != null && ownFamily(name)
      })
      .join('\n')
    assert.match(own, /plusone_execution_fuel_total/)
    const strict = promtool(`${own}\n`)
    assert.equal(strict.code, 0, strict.problems.join('\n'))
  })
})
