/**
 * Attack 6 of issue 11: the swarm key was world-readable. `plusone swarm-key > swarm.key` made it
 * 0644 (with the usual umask) and the daemon never checked, so any local user could join the
 * private swarm. Now `swarm-key -o FILE` writes 0600 and the daemon refuses a key file that group
 * or others can read, saying which chmod fixes it.
 */
import assert from 'node:assert/strict'
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cli } from '../cli/helpers.js'

describe('hostile: swarm key hygiene', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'plusone-swarmkey-'))
  })
  after(async () => rm(dir, { recursive: true, force: true }))

  it('swarm-key -o writes the key with mode 0600 and never overwrites a file', async () => {
    const key = join(dir, 'swarm.key')
    const made = await cli(['swarm-key', '-o', key])
    assert.equal(made.code, 0, made.stderr)
    assert.equal((await stat(key)).mode & 0o777, 0o600)
    const again = await cli(['swarm-key', '-o', key])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /already exists/)
  })

  it('the daemon refuses a key that group or others can read, naming the chmod that fixes it', async () => {
    const data = join(dir, 'node')
    assert.equal((await cli(['init', '--data-dir', data])).code, 0)
    const key = join(dir, 'open.key')
    assert.equal((await cli(['swarm-key', '-o', key])).code, 0)
    await chmod(key, 0o644)
    const refused = await cli([
      'daemon',
      '--data-dir',
      data,
      '--swarm-key',
      key,
      '--no-mdns',
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
    ])
    assert.equal(refused.code, 1)
    assert.ok(refused.stderr.includes(`chmod 600 ${key}`), refused.stderr)
    assert.match(refused.stderr, /mode 0644/)
    assert.equal(refused.stderr.trim().split('\n').length, 1, 'one line, no stack trace')
  })
})
