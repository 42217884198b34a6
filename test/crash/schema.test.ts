import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Level } from 'level'
import { cli } from '../cli/helpers.js'

/** What src/store/index.ts keeps its schema version under. */
const META_SUBLEVEL = 'meta'
const SCHEMA_KEY = 'schema-version'

describe('a data directory written with another store schema', () => {
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'plusone-crash-schema-'))
    const init = await cli(['init', '--data-dir', dir])
    assert.equal(init.code, 0, init.stderr)
    const db = new Level<string, string>(join(dir, 'db'))
    await db.sublevel<string, string>(META_SUBLEVEL, { valueEncoding: 'utf8' }).put(SCHEMA_KEY, '99')
    await db.close()
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('is refused by the daemon with one clear line and no stack trace', async () => {
    const r = await cli(
      ['daemon', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--api', '127.0.0.1:0'],
      { timeoutMs: 30_000 },
    )
    assert.notEqual(r.code, 0)
    assert.equal(r.code !== null, true, 'the daemon exited by itself')
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, r.stderr)
    assert.match(lines[0], /schema version 99/)
    assert.match(lines[0], /reads version 1/)
    assert.doesNotMatch(r.stderr, /^\s+at /m)
    assert.doesNotMatch(r.stdout, /control API/)

    // the refused store is left as it was: the version is still 99
    const db = new Level<string, string>(join(dir, 'db'))
    assert.equal(
      await db.sublevel<string, string>(META_SUBLEVEL, { valueEncoding: 'utf8' }).get(SCHEMA_KEY),
      '99',
    )
    await db.close()
  })
})
