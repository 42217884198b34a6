import assert from 'node:assert/strict'
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { apiOf } from '../api/helpers.js'
import { cli, type DaemonProcess, daemon } from '../cli/helpers.js'

describe('plusone dashboard', () => {
  let root: string
  let dataDir: string
  let running: DaemonProcess | undefined

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'plusone-dashboard-'))
    dataDir = join(root, 'node')
    const init = await cli(['init', '--data-dir', dataDir])
    assert.equal(init.code, 0, init.stderr)
    running = await daemon(['--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'])
  })
  after(async () => {
    await running?.stop('SIGTERM')
    await rm(root, { recursive: true, force: true })
  })

  it('--url prints the dashboard URL with the token in the fragment, and the page is served there', async () => {
    const { url, token } = await apiOf(dataDir)
    const r = await cli(['dashboard', '--url', '--data-dir', dataDir])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `${url}/#token=${token}\n`)
    const page = await fetch(r.stdout.trim(), { signal: AbortSignal.timeout(10_000) })
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
    assert.match(await page.text(), /<script type="module" src="\/app\.js">/)
  })

  it('opens the browser on a redirect page only its owner can read, so the token stays out of the process list', async () => {
    const bin = join(root, 'bin')
    const seen = join(root, 'opened.txt')
    await mkdir(bin, { recursive: true })
    await writeFile(join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s' "$*" > '${seen}'\n`)
    await chmod(join(bin, 'xdg-open'), 0o755)
    const r = await cli(['dashboard', '--data-dir', dataDir], {
      env: { PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` },
    })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /opened the dashboard/)
    assert.equal(r.stdout, '')
    const opened = await readFile(seen, 'utf8')
    assert.equal(opened, join(dataDir, 'dashboard.html'))
    assert.doesNotMatch(opened, /token/)
    assert.equal((await stat(opened)).mode & 0o777, 0o600)
    const { url, token } = await apiOf(dataDir)
    assert.match(await readFile(opened, 'utf8'), new RegExp(`url=${url}/#token=${token}"`))
  })

  it('says no daemon is running when none is, and names a daemon that does not answer', async () => {
    const empty = join(root, 'empty')
    const none = await cli(['dashboard', '--url', '--data-dir', empty])
    assert.equal(none.code, 1)
    assert.match(none.stderr, /no plusone daemon is running for .*empty/)

    const stale = join(root, 'stale')
    await mkdir(stale)
    await writeFile(join(stale, 'api.json'), JSON.stringify({ url: 'http://127.0.0.1:9', token: 'x' }))
    const gone = await cli(['dashboard', '--url', '--data-dir', stale])
    assert.equal(gone.code, 1)
    assert.match(
      gone.stderr,
      /^plusone dashboard: the daemon at http:\/\/127\.0\.0\.1:9 \(from .*stale.*api\.json\) refused/,
    )
  })
})
