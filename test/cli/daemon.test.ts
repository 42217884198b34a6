import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cli, type DaemonProcess, daemon, until } from './helpers.js'

const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns']

function noStackTrace(text: string): void {
  assert.doesNotMatch(text, /^\s+at .+:\d+:\d+\)?$/m, `expected one clear line, got a stack trace:\n${text}`)
}

describe('plusone CLI against real daemon processes', () => {
  let root: string
  let dirA: string
  let dirB: string
  const running: DaemonProcess[] = []

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'plusone-cli-'))
    dirA = join(root, 'a')
    dirB = join(root, 'b')
  })
  after(async () => {
    await Promise.all(running.map((d) => d.stop('SIGKILL')))
    await rm(root, { recursive: true, force: true })
  })

  async function start(dir: string, extra: string[] = []): Promise<DaemonProcess> {
    const d = await daemon(['--data-dir', dir, ...LOOPBACK, ...extra])
    running.push(d)
    return d
  }

  async function idOf(dir: string): Promise<{ peerId: string; addresses: string[] }> {
    const r = await cli(['id', '--json', '--data-dir', dir])
    assert.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout)
  }

  it('init creates a private identity and keeps it when run again', async () => {
    const first = await cli(['init', '--data-dir', dirA])
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stdout, /identity created: 12D3Koo/)
    assert.equal((await stat(join(dirA, 'identity.key'))).mode & 0o777, 0o600)
    const id1 = await idOf(dirA)
    const again = await cli(['init', '--data-dir', dirA])
    assert.match(again.stdout, /identity kept/)
    assert.equal((await idOf(dirA)).peerId, id1.peerId)
    assert.deepEqual(id1.addresses, [], 'no addresses while no daemon runs')
    assert.equal((await cli(['init', '--data-dir', dirB])).code, 0)
  })

  it('commands that need the daemon say so in one line when none runs', async () => {
    for (const cmd of ['peers', 'nodes']) {
      const r = await cli([cmd, '--data-dir', dirA])
      assert.notEqual(r.code, 0)
      assert.match(r.stderr, /no plusone daemon is running/)
      assert.equal(r.stderr.trim().split('\n').length, 1)
    }
  })

  it('two daemons bootstrapped together list each other as peers', async () => {
    const a = await start(dirA)
    const idA = await idOf(dirA)
    assert.ok(idA.addresses.length > 0 && idA.addresses[0].endsWith(`/p2p/${idA.peerId}`))
    const apiA = JSON.parse(await readFile(join(dirA, 'api.json'), 'utf8'))
    assert.equal((await stat(join(dirA, 'api.json'))).mode & 0o777, 0o600)
    assert.match(apiA.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.ok(a.output().includes(idA.peerId))

    await start(dirB, ['--bootstrap', idA.addresses[0]])
    const idB = await idOf(dirB)
    for (const [dir, other] of [
      [dirA, idB.peerId],
      [dirB, idA.peerId],
    ]) {
      const peers = await until(`${dir} to list ${other}`, async () => {
        const r = await cli(['peers', '--json', '--data-dir', dir])
        assert.equal(r.code, 0, r.stderr)
        const list = JSON.parse(r.stdout) as Array<{
          peerId: string
          addresses: string[]
          latencyMs: number | null
        }>
        return list.some((p) => p.peerId === other) ? list : undefined
      })
      const p = peers.find((x) => x.peerId === other)
      assert.ok(p != null && p.addresses.length > 0)
      assert.ok(p.latencyMs === null || p.latencyMs >= 0)
    }
  })

  it('the control API answers 401 without the right token, before routing', async () => {
    const { url, token } = JSON.parse(await readFile(join(dirA, 'api.json'), 'utf8'))
    for (const path of ['/api/v1/peers', '/api/v1/no-such-route', '/api/v2/x']) {
      assert.equal((await fetch(`${url}${path}`)).status, 401)
      assert.equal((await fetch(`${url}${path}`, { headers: { authorization: 'Bearer nope' } })).status, 401)
    }
    const ok = await fetch(`${url}/api/v1/id`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(ok.status, 200)
  })

  it('nodes lists both capacity records found through the DHT', async () => {
    const idB = await idOf(dirB)
    const nodes = await until('both capacity records', async () => {
      const r = await cli(['nodes', '--json', '--data-dir', dirA])
      assert.equal(r.code, 0, r.stderr)
      const list = JSON.parse(r.stdout) as Array<{
        peerId: string
        cores: number
        memoryMB: number
        price: number
      }>
      return list.some((n) => n.peerId === idB.peerId) && list.length >= 2 ? list : undefined
    })
    for (const n of nodes) {
      assert.ok(n.cores >= 1 && n.memoryMB >= 16 && n.price >= 0)
      assert.ok(Date.parse((n as unknown as { expiresAt: string }).expiresAt) > Date.now())
    }
  })

  it('a second daemon on the same data directory refuses to start', async () => {
    const r = await cli(['daemon', '--data-dir', dirA, ...LOOPBACK], { timeoutMs: 20_000 })
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /another plusone daemon \(pid \d+\) is already running/)
    noStackTrace(r.stderr)
  })

  it('SIGTERM stops the daemon cleanly and a restart keeps the peer id', async () => {
    const before = await idOf(dirA)
    const a = running.shift()
    assert.ok(a != null)
    assert.equal(await a.stop('SIGTERM'), 0)
    assert.match(a.output(), /stopped/)
    await assert.rejects(stat(join(dirA, 'api.json')), 'api.json is removed on a clean stop')
    await start(dirA)
    assert.equal((await idOf(dirA)).peerId, before.peerId)
  })

  it('a lock left by a killed (kill -9) daemon does not block a restart', async () => {
    const a = running.pop()
    assert.ok(a != null)
    await a.stop('SIGKILL')
    await stat(join(dirA, 'daemon.lock')) // the killed daemon left its lock behind
    const again = await start(dirA)
    assert.match(again.output(), /control API/)
  })

  it('a corrupt or missing config or identity gives one clear line, not a stack trace', async () => {
    const dir = join(root, 'broken')
    assert.equal((await cli(['init', '--data-dir', dir])).code, 0)
    await writeFile(join(dir, 'config.json'), '{"listen": [')
    let r = await cli(['daemon', '--data-dir', dir, ...LOOPBACK])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /config\.json is not valid JSON/)
    noStackTrace(r.stderr)

    await writeFile(join(dir, 'config.json'), '{"cpus": "many"}')
    r = await cli(['daemon', '--data-dir', dir, ...LOOPBACK])
    assert.match(r.stderr, /"cpus" must be a whole number/)

    await rm(join(dir, 'config.json'))
    r = await cli(['daemon', '--data-dir', dir, ...LOOPBACK])
    assert.match(r.stderr, /no config at .*plusone init/)

    await writeFile(join(dir, 'identity.key'), 'not a key')
    r = await cli(['id', '--data-dir', dir])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /identity\.key is not a valid plusone identity/)
    noStackTrace(r.stderr)

    await rm(join(dir, 'identity.key'))
    r = await cli(['id', '--data-dir', dir])
    assert.match(r.stderr, /no identity at .*run "plusone init/)
  })

  it('--help lists every command with a one-line purpose', async () => {
    const r = await cli(['--help'])
    assert.equal(r.code, 0)
    for (const cmd of [
      'init',
      'id',
      'swarm-key',
      'daemon',
      'peers',
      'nodes',
      'submit',
      'status',
      'result',
      'tasks',
      'jobs',
      'cancel',
      'ledger',
      'logs',
      'run',
      'demo',
    ]) {
      assert.match(r.stdout, new RegExp(`^  ${cmd}\\s+\\S.+$`, 'm'))
    }
    const key = await cli(['swarm-key'])
    assert.match(key.stdout, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
  })
})
