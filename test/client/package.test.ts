/**
 * The package as a user gets it: `npm pack`, installed into a fresh project from the tarball,
 * imported as 'plusone' by a program that drives a mesh of real daemons through the client.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { LocalMesh } from '../../src/cli/local-mesh.js'
import { BIN } from '../cli/helpers.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const PRIMES = join(ROOT, 'examples', 'build', 'primes.wasm')
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

function run(
  cmd: string,
  args: string[],
  cwd: string,
  timeoutMs = 180_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err == null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

/** Modules that must not load when a program imports 'plusone': the node, not the client. */
const HOOKS = `
const HEAVY = /\\/node_modules\\/(libp2p|@libp2p|@chainsafe|level|classic-level|pngjs|protons-runtime)\\/|\\/plusone\\/dist\\/src\\/(runtime|node|market|daemon|blobs|ledger|capacity)\\//
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context)
  if (HEAVY.test(r.url)) throw new Error('importing plusone loaded ' + r.url)
  return r
}
`

/** What a user writes: every client method against a live daemon. */
const APP = `
import { readFile } from 'node:fs/promises'
import { connect } from 'plusone'

const [dataDir, modulePath] = process.argv.slice(2)
const client = await connect({ dataDir })
const out = {}
out.id = await client.id()
out.peers = (await client.peers()).length
out.nodes = (await client.nodes()).length

const events = []
const watching = new AbortController()
const watched = (async () => {
  for await (const e of client.events({ signal: watching.signal })) events.push(e.type)
})()

const module = new Uint8Array(await readFile(modulePath))
const inputs = ['0 20000', '20000 40000', '40000 60000'].map((r, i) => ({ name: 'r' + i + '.txt', data: new TextEncoder().encode(r) }))
const job = await client.submit({ module, inputs, replicas: 3 })
out.jobId = job.jobId
out.progress = []
for await (const p of job.progress()) out.progress.push([p.done, p.failed, p.total, p.status])
const res = await job.result()
out.result = {
  jobId: res.jobId,
  status: res.status,
  tasks: res.tasks.map((t) => ({ taskId: t.taskId, input: t.input, status: t.status, output: new TextDecoder().decode(t.output) })),
}
out.ledger = await client.ledger()

// a task nobody can run (more memory than any node offers) waits; cancel ends it
const stuck = await client.submit({ module, inputs: [inputs[0]], replicas: 1, memoryMB: 4000 })
await client.cancel(stuck.jobId)
out.cancelled = (await stuck.status()).status

const timedOut = new AbortController()
timedOut.abort()
try {
  await client.jobs({ signal: timedOut.signal })
  out.aborted = 'no'
} catch (err) {
  out.aborted = err.name
}
try {
  await client.task('no-such-task')
} catch (err) {
  out.missing = { name: err.name, status: err.status }
}
watching.abort()
await watched
out.events = [...new Set(events)].sort()
console.log(JSON.stringify(out))
`

/** The same, type-checked as a TypeScript user's program would be. */
const TYPED = `
import { connect, type JobResult, type NodeRecord, type PlusoneClient } from 'plusone'

export async function use(dataDir: string, module: Uint8Array): Promise<[NodeRecord[], JobResult]> {
  const client: PlusoneClient = await connect({ dataDir, timeoutMs: 5_000 })
  const job = await client.submit({ module, inputs: [{ name: 'a', data: new Uint8Array(3) }], replicas: 'auto', fuel: 10n ** 9n })
  for await (const p of job.progress({ signal: AbortSignal.timeout(60_000) })) {
    const pct: number = (100 * p.done) / p.total
    void pct
  }
  const res = await job.result()
  const first: Uint8Array | null = res.tasks[0].output
  void first
  return [await client.nodes(), res]
}
`

describe('the plusone package, installed from its tarball into a fresh project', () => {
  const mesh = new LocalMesh(4, () => {}, ['--memory', '1024', '--max-tasks', '2'], BIN)
  let work: string
  let project: string

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'plusone-pkg-'))
    project = join(work, 'app')
    await mkdir(project)
    const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT)
    assert.equal(pack.code, 0, pack.stderr)
    const tarball = (JSON.parse(pack.stdout) as Array<{ filename: string }>)[0].filename
    // pin the dependencies to the versions this repository is tested with: a lockfile made from ours
    const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>
    }
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
    const spec = `file:../${tarball}`
    const packages: Record<string, unknown> = { '': { name: 'app', dependencies: { plusone: spec } } }
    for (const [k, v] of Object.entries(lock.packages)) if (k !== '' && v.dev !== true) packages[k] = v
    packages['node_modules/plusone'] = {
      version: pkg.version,
      resolved: spec,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
      license: pkg.license,
    }
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { plusone: spec } }),
    )
    await writeFile(
      join(project, 'package-lock.json'),
      JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }),
    )
    const install = await run(
      'npm',
      ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'],
      project,
    )
    assert.equal(install.code, 0, install.stderr)
    await mesh.start()
  })
  after(async () => {
    await mesh.stop()
    await rm(work, { recursive: true, force: true })
  })

  it("import 'plusone' loads the client only: no libp2p, no sandbox, no store", async () => {
    await writeFile(join(project, 'hooks.mjs'), HOOKS)
    await writeFile(
      join(project, 'forbid.mjs'),
      "import { register } from 'node:module'\nregister('./hooks.mjs', import.meta.url)\n",
    )
    await writeFile(
      join(project, 'light.mjs'),
      "import * as p from 'plusone'\nconsole.log(Object.keys(p).sort().join(' '))\n",
    )
    const r = await run(process.execPath, ['--import', './forbid.mjs', 'light.mjs'], project)
    assert.equal(r.code, 0, r.stderr)
    for (const name of [
      'connect',
      'PlusoneClient',
      'Job',
      'ApiError',
      'DaemonNotRunningError',
      'DaemonTimeoutError',
    ])
      assert.ok(
        r.stdout
          .split(' ')
          .map((s) => s.trim())
          .includes(name),
        `exports ${name}: ${r.stdout}`,
      )
  })

  it('its types check in a strict TypeScript program', async () => {
    await writeFile(join(project, 'typed.ts'), TYPED)
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          lib: ['ES2023'],
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        files: ['typed.ts'],
      }),
    )
    const r = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], project)
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`)
  })

  it('a program submits a job, follows its progress from events and reads verified outputs', async () => {
    const dataDir = mesh.nodes[0].dataDir
    // the submitter must know the executors before the first job
    await writeFile(
      join(project, 'wait.mjs'),
      `import { connect } from 'plusone'
const client = await connect({ dataDir: process.argv[2] })
for (let i = 0; i < 120; i++) {
  if ((await client.nodes()).length >= 4) process.exit(0)
  await new Promise((r) => setTimeout(r, 250))
}
process.exit(1)
`,
    )
    assert.equal((await run(process.execPath, ['wait.mjs', dataDir], project)).code, 0, 'all 4 nodes known')
    await writeFile(join(project, 'app.mjs'), APP)
    const r = await run(process.execPath, ['app.mjs', dataDir, PRIMES], project)
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.match(out.id.peerId, /^12D3Koo/)
    assert.ok(out.peers >= 2, `connected to peers: ${out.peers}`)
    assert.equal(out.nodes, 4)

    assert.equal(out.result.jobId, out.jobId)
    assert.equal(out.result.status, 'done')
    assert.deepEqual(
      out.result.tasks.map((t: { input: string }) => t.input),
      ['r0.txt', 'r1.txt', 'r2.txt'],
    )
    for (const [i, t] of out.result.tasks.entries()) {
      assert.equal(t.status, 'done')
      assert.match(t.output, new RegExp(`^primes in \\[${i * 20000}, ${(i + 1) * 20000}\\): \\d+`))
    }
    // progress: starts from the state when asked, ends with the job done, never goes back
    const steps = out.progress as Array<[number, number, number, string]>
    assert.deepEqual(steps.at(-1), [3, 0, 3, 'done'])
    for (let i = 1; i < steps.length; i++) assert.ok(steps[i][0] >= steps[i - 1][0])
    assert.ok(out.ledger.spent > 0, 'the job cost credits, on signed receipts')

    assert.equal(out.cancelled, 'cancelled')
    assert.equal(out.aborted, 'AbortError')
    assert.deepEqual(out.missing, { name: 'ApiError', status: 404 })
    for (const type of ['job', 'task', 'bid']) assert.ok(out.events.includes(type), `saw ${type} events`)
  })
})
