import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { COMMANDS } from '../../src/cli/index.js'
import { BIN, cli, type DaemonProcess, daemon } from './helpers.js'

const MANDELBROT = fileURLToPath(new URL('../../../examples/build/mandelbrot.wasm', import.meta.url))
const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns']

/** Runs the CLI with a reader that takes its time, as `| jq` on a busy machine does. */
function slowlyRead(args: string[]): Promise<{ code: number | null; stdout: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    const chunks: Buffer[] = []
    child.stdout.on('data', (d: Buffer) => {
      chunks.push(d)
      child.stdout.pause()
      setImmediate(() => setImmediate(() => child.stdout.resume()))
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(chunks) }))
  })
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port))
  })
}

describe('a crisp CLI', () => {
  let root: string
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'plusone-crisp-'))
  })
  after(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('a large --json document piped to a slow reader arrives whole', async () => {
    const input = join(root, 'tile.txt')
    await writeFile(input, '512 512 0 0 512 512 50') // a 512×512 tile: 256 KiB of output
    const r = await slowlyRead(['run', MANDELBROT, '--input', input, '--json'])
    assert.equal(r.code, 0)
    assert.ok(r.stdout.byteLength > 256 * 1024, `${r.stdout.byteLength} bytes`)
    const outcome = JSON.parse(r.stdout.toString('utf8')) as { status: string; output: string }
    assert.equal(outcome.status, 'ok')
    assert.equal(Buffer.from(outcome.output, 'base64').byteLength, 512 * 512)
  })

  describe('an error names its real cause', () => {
    const servers: Server[] = []
    const sockets: Socket[] = []
    after(() => {
      for (const s of sockets) s.destroy()
      for (const s of servers) s.close()
    })

    async function apiJson(dir: string, value: unknown): Promise<string> {
      await rm(dir, { recursive: true, force: true })
      await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }))
      await writeFile(join(dir, 'api.json'), JSON.stringify(value))
      return dir
    }

    async function freePort(): Promise<number> {
      const s = createServer()
      const port = await listen(s)
      await new Promise((r) => s.close(r))
      return port
    }

    it('no api.json: no daemon runs for that data directory', async () => {
      const r = await cli(['peers', '--data-dir', join(root, 'never')])
      assert.equal(r.code, 1)
      assert.match(r.stderr, /^plusone peers: no plusone daemon is running for .*never \(start one with/)
    })

    it('api.json of a daemon that has exited: nothing listens there any more', async () => {
      const port = await freePort()
      const dir = await apiJson(join(root, 'dead'), {
        url: `http://127.0.0.1:${port}`,
        token: 't',
        pid: 2 ** 22 + 1,
      })
      const r = await cli(['peers', '--data-dir', dir])
      assert.equal(r.code, 1)
      assert.match(
        r.stderr,
        /no plusone daemon is running: the daemon \(pid 4194305\) that wrote .*api\.json has exited/,
      )
    })

    it('a refused connection is reported as refused', async () => {
      const port = await freePort()
      const dir = await apiJson(join(root, 'refused'), {
        url: `http://127.0.0.1:${port}`,
        token: 't',
        pid: process.pid,
      })
      const r = await cli(['nodes', '--data-dir', dir])
      assert.match(
        r.stderr,
        new RegExp(`the daemon at http://127\\.0\\.0\\.1:${port} .*refused the connection`),
      )
    })

    it('a daemon that accepts but never answers: "did not answer within 10 s"', async () => {
      const hung = createServer((s) => sockets.push(s))
      servers.push(hung)
      const port = await listen(hung)
      const dir = await apiJson(join(root, 'hung'), {
        url: `http://127.0.0.1:${port}`,
        token: 't',
        pid: process.pid,
      })
      const r = await cli(['peers', '--data-dir', dir], { timeoutMs: 30_000 })
      assert.equal(r.code, 1)
      assert.equal(
        r.stderr,
        `plusone peers: the daemon at http://127.0.0.1:${port} did not answer within 10 s\n`,
      )
    })

    it('an unreadable api.json says so', async () => {
      const dir = join(root, 'corrupt')
      await apiJson(dir, {})
      await writeFile(join(dir, 'api.json'), '{"url": ')
      const r = await cli(['jobs', '--data-dir', dir])
      assert.match(r.stderr, /api\.json is not valid JSON/)
    })
  })

  describe('against a daemon with no peers', () => {
    let d: DaemonProcess
    let dir: string
    before(async () => {
      dir = join(root, 'alone')
      assert.equal((await cli(['init', '--data-dir', dir])).code, 0)
      d = await daemon(['--data-dir', dir, ...LOOPBACK])
    })
    after(async () => {
      await d?.stop('SIGKILL')
    })

    it('nodes answers with this node’s own record', async () => {
      const id = JSON.parse((await cli(['id', '--json', '--data-dir', dir])).stdout).peerId as string
      // a bound, not a timing assertion: before, the lookup ran 20 s and then failed
      const r = await cli(['nodes', '--json', '--data-dir', dir], { timeoutMs: 15_000 })
      assert.equal(r.code, 0, r.stderr)
      const nodes = JSON.parse(r.stdout) as Array<{ peerId: string; self: boolean; cores: number }>
      assert.equal(nodes.length, 1)
      assert.equal(nodes[0].peerId, id)
      assert.equal(nodes[0].self, true)
      assert.ok(nodes[0].cores >= 1)
      const table = await cli(['nodes', '--data-dir', dir], { timeoutMs: 15_000 })
      assert.match(table.stdout, new RegExp(`^${id} \\(self\\)\\s+\\d+`, 'm'))
    })

    it('peers says no peers are connected', async () => {
      const r = await cli(['peers', '--data-dir', dir])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout, 'no peers connected\n')
      assert.deepEqual(JSON.parse((await cli(['peers', '--json', '--data-dir', dir])).stdout), [])
    })

    it('a wrong token is reported as a wrong token', async () => {
      const other = join(root, 'wrong-token')
      const info = JSON.parse(
        await import('node:fs/promises').then((fs) => fs.readFile(join(dir, 'api.json'), 'utf8')),
      )
      await import('node:fs/promises').then((fs) => fs.mkdir(other, { recursive: true }))
      await writeFile(join(other, 'api.json'), JSON.stringify({ ...info, token: 'nope' }))
      const r = await cli(['peers', '--data-dir', other])
      assert.equal(r.code, 1)
      assert.match(r.stderr, /refused the API token in .*wrong-token\/api\.json/)
    })

    it('status of an unknown id exits 3 with the daemon’s own words', async () => {
      const r = await cli(['status', 'no-such-id', '--data-dir', dir])
      assert.equal(r.code, 3)
      assert.equal(r.stderr, 'plusone status: no task no-such-id was submitted from this node\n')
    })
  })

  it('--help of every command names every option it accepts, and nothing else', async () => {
    for (const entry of COMMANDS) {
      const cmd = await entry.load()
      assert.equal(cmd.name, entry.name)
      assert.equal(cmd.summary, entry.summary, `${entry.name}: one summary for --help and the command`)
      const r = await cli([entry.name, '--help'])
      assert.equal(r.code, 0, `${entry.name} --help: ${r.stderr}`)
      assert.equal(r.stdout, cmd.help)
      const options = cmd.options ?? {}
      for (const [name, o] of Object.entries(options)) {
        if (name === 'help') continue
        assert.match(cmd.help, new RegExp(`--${name}\\b`), `${entry.name} --help names --${name}`)
        if (o.short != null) assert.match(cmd.help, new RegExp(`-${o.short}, --${name}\\b`))
      }
      const listed = [...cmd.help.matchAll(/^\s+(?:-\w, )?--([a-z][a-z-]*)/gm)].map((m) => m[1])
      for (const name of listed) {
        assert.ok(
          name === 'help' || name in options,
          `${entry.name} --help lists --${name}, which it does not accept`,
        )
      }
    }
  })
})
