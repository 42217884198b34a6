/**
 * ICE server checks (src/node/ice-check.ts) against a STUN server on loopback (the NAT lab's,
 * test/nat/ice-stun-server.ts) and a port where nothing listens; and `plusone doctor` of a
 * daemon given both says which answered and which did not.
 */
import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { checkIceServer, IceServerCheck } from '../../src/node/index.js'
import { cli, type DaemonProcess, daemon } from '../cli/helpers.js'
import { bindingResponse } from '../nat/ice-stun-server.js'

/** A UDP port on 127.0.0.1 where nothing listens (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createSocket('udp4')
  s.bind(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address()
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

describe('ICE server checks', () => {
  let stun: Socket
  let stunPort: number
  let requests = 0
  let deadPort: number

  before(async () => {
    stun = createSocket('udp4')
    stun.on('message', (msg, from) => {
      requests++
      const res = bindingResponse(msg, from.address, from.port)
      if (res != null) stun.send(res, from.port, from.address)
    })
    stun.bind(0, '127.0.0.1')
    await once(stun, 'listening')
    stunPort = stun.address().port
    deadPort = await closedPort()
  })
  after(() => stun.close())

  it('a STUN server that answers says which address it saw', async () => {
    const c = await checkIceServer(`stun:127.0.0.1:${stunPort}`)
    assert.equal(c.ok, true, c.error)
    assert.match(c.mapped ?? '', /^127\.0\.0\.1:\d+$/)
    assert.equal(c.server, `stun:127.0.0.1:${stunPort}`)
  })

  it('a server where nothing listens fails at once, with the cause in words', async () => {
    const c = await checkIceServer(`stun:127.0.0.1:${deadPort}`, 2_000)
    assert.equal(c.ok, false)
    assert.match(c.error ?? '', /nothing listens there|no answer/)
  })

  it('credentials never appear in a check, and a TURN server over TCP is checked by connecting', async () => {
    const c = await checkIceServer(`turn:alice:secret@127.0.0.1:${deadPort}?transport=tcp`, 2_000)
    assert.equal(c.ok, false)
    assert.equal(c.server.includes('secret'), false, c.server)
  })

  it('checks are reused for a while: a second question sends nothing', async () => {
    const check = new IceServerCheck([`stun:127.0.0.1:${stunPort}`])
    const before = requests
    const [first] = await check.check()
    const [second] = await check.check()
    assert.equal(first.ok, true)
    assert.equal(second, first)
    assert.equal(requests - before, 1)
  })

  describe('plusone doctor', () => {
    let dir: string
    let d: DaemonProcess | undefined

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'plusone-ice-'))
      const init = await cli(['init', '--data-dir', dir])
      assert.equal(init.code, 0, init.stderr)
    })
    after(async () => {
      await d?.stop('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    })

    it('says which ICE server answered and which did not, and what to do', async () => {
      const good = `stun:127.0.0.1:${stunPort}`
      const dead = `stun:127.0.0.1:${deadPort}`
      d = await daemon([
        '--data-dir',
        dir,
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--no-mdns',
        '--ice-server',
        good,
        '--ice-server',
        dead,
      ])
      const r = await cli(['doctor', '--data-dir', dir])
      assert.equal(r.code, 0, r.stderr)
      assert.match(
        r.stdout,
        new RegExp(`The ICE server ${good} answered: it sees this node as 127\\.0\\.0\\.1:\\d+`),
      )
      assert.match(r.stdout, new RegExp(`The ICE server ${dead} did not answer \\(.+\\).*--ice-server`))
      const json = JSON.parse((await cli(['doctor', '--json', '--data-dir', dir])).stdout) as {
        webrtc: { ice: Array<{ server: string; ok: boolean }> }
      }
      assert.deepEqual(
        json.webrtc.ice.map((c) => [c.server, c.ok]),
        [
          [good, true],
          [dead, false],
        ],
      )
    })
  })
})
