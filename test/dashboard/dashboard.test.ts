import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import { type ApiAccess, api, apiOf, primesJob, realMesh, until } from '../api/helpers.js'
import { cli } from '../cli/helpers.js'

const CHROMIUM = '/usr/bin/chromium'
/** Set to a path (e.g. docs/dashboard.png) to save a screenshot of the dashboard there. */
const SCREENSHOT = process.env.PLUSONE_DASHBOARD_SCREENSHOT
const WAIT_MS = 60_000

/** Chromium with nothing of its own on the network, in a fresh profile. */
async function browser(profile: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

describe('the dashboard in headless Chromium', {
  skip:
    !existsSync(CHROMIUM) &&
    `${CHROMIUM} is absent (apt-get install -y chromium); skipping the browser tests`,
}, () => {
  // two daemons: each is the other's only executor (fewer processes start faster on a busy machine)
  const mesh = realMesh(2)
  let node: ApiAccess
  let other: ApiAccess
  let peerId: string
  let profile: string
  let context: BrowserContext
  let page: Page
  const requests: string[] = []
  /** The job submitted in the second test, expanded there. */
  let firstJob = ''
  /** Script errors and console errors (a CSP violation is one). */
  const problems: string[] = []

  before(async () => {
    profile = await mkdtemp(join(tmpdir(), 'plusone-chromium-'))
    await mesh.start()
    ;[node, other] = await Promise.all(mesh.nodes.slice(0, 2).map((n) => apiOf(n.dataDir)))
    peerId = (await api<{ peerId: string }>(node, '/id')).peerId
    await until('capacity records of both nodes', async () => {
      const nodes = await api<unknown[]>(node, '/nodes')
      return nodes.length >= 2 ? true : undefined
    })
    context = await browser(profile)
    page = await context.newPage()
    page.on('request', (r) => requests.push(r.url()))
    page.on('pageerror', (err) => problems.push(err.message))
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text())
    })
  })
  after(async () => {
    await context?.close()
    await mesh.stop()
    await rm(profile, { recursive: true, force: true })
  })

  it('shows this node’s peer id, then takes the token out of the address bar', async () => {
    await page.goto(`${node.url}/#token=${node.token}`)
    // A selector, not waitForFunction: the dashboard's CSP forbids eval, and a predicate that is
    // not yet true when first checked is polled through eval in the page (EvalError whenever the
    // peer id came later than that first check).
    await page.waitForSelector(`#peer-id:text-is(${JSON.stringify(peerId)})`, { timeout: WAIT_MS })
    assert.equal(new URL(page.url()).hash, '')
    await page.waitForSelector('#conn.live', { timeout: WAIT_MS })
  })

  it('a submitted job appears and its progress reaches 100% from the event stream, without a reload', async () => {
    let loads = 0
    page.on('load', () => loads++)
    const { jobId } = await api<{ jobId: string }>(
      node,
      '/jobs',
      await primesJob(['0 30000', '30000 60000', '60000 90000']),
    )
    const job = page.locator(`[data-job-id="${jobId}"]`)
    await job.waitFor({ timeout: WAIT_MS })
    await page.waitForSelector(`[data-job-id="${jobId}"][data-status="done"] .progress[data-percent="100"]`, {
      timeout: WAIT_MS,
    })
    assert.match((await job.textContent()) ?? '', /3\/3 done/)
    assert.equal(loads, 0)
    const events = (await page.locator('#events').textContent()) ?? ''
    assert.match(events, new RegExp(`job ${jobId.slice(-8)} done`))

    // a job's outputs: expand it, download one, compare with what the API returns
    const status = await api<{ tasks: Array<{ taskId: string; input: string }> }>(node, `/jobs/${jobId}`)
    const first = status.tasks.find((t) => t.input === 'r0.txt')!
    await job.locator('summary').click()
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: WAIT_MS }),
      job.locator('tr', { hasText: 'r0.txt' }).getByRole('button', { name: 'output' }).click(),
    ])
    assert.equal(download.suggestedFilename(), 'r0.txt.out')
    const saved = await readFile(await download.path())
    const res = await fetch(`${node.url}/api/v1/tasks/${first.taskId}/result`, {
      headers: { authorization: `Bearer ${node.token}` },
    })
    assert.deepEqual(saved, Buffer.from(await res.arrayBuffer()))
    assert.match(saved.toString(), /\d/)
    firstJob = jobId
  })

  it('charts the credits this node earned, from signed receipts, and ranks peers by reputation', async () => {
    // the other node's job runs on this node, its only executor
    await api(other, '/jobs', await primesJob(['0 10000', '10000 20000']))
    await page.waitForSelector('#earnings svg .bar', { timeout: WAIT_MS })
    await page.waitForSelector('#reputation table tbody tr', { timeout: WAIT_MS })
    assert.match((await page.locator('#balance').textContent()) ?? '', /earned/)
    // the lists were re-rendered meanwhile (this node ran the other's tasks): what the user opened stays open
    assert.equal(await page.locator(`[data-job-id="${firstJob}"]`).getAttribute('open'), '')
    if (SCREENSHOT != null) await page.screenshot({ path: SCREENSHOT, fullPage: true })
  })

  it('loads nothing but the daemon’s own origin (no CDN; works with no network), without errors', () => {
    assert.deepEqual(problems, [])
    const origin = new URL(node.url).origin
    const foreign = requests.filter((u) => new URL(u).origin !== origin)
    assert.deepEqual(foreign, [])
    assert.ok(requests.some((u) => u.endsWith('/app.js')))
  })

  it('the page `plusone dashboard` hands the browser leads to the dashboard', async () => {
    const bin = join(profile, 'bin')
    const seen = join(profile, 'opened.txt')
    await mkdir(bin, { recursive: true })
    await writeFile(join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s' "$*" > '${seen}'\n`, { mode: 0o755 })
    const r = await cli(['dashboard', '--data-dir', mesh.nodes[0].dataDir], {
      env: { PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` },
    })
    assert.equal(r.code, 0, r.stderr)
    const opened = await context.newPage()
    try {
      await opened.goto(pathToFileURL(await readFile(seen, 'utf8')).href)
      await opened.waitForURL(`${node.url}/`, { timeout: WAIT_MS })
      await opened.locator('#peer-id', { hasText: peerId }).waitFor({ timeout: WAIT_MS })
    } finally {
      await opened.close()
    }
  })

  it('a wrong token shows a clear message and no data', async () => {
    const wrong = await context.newPage()
    try {
      await wrong.goto(`${node.url}/#token=${'0'.repeat(64)}`)
      const banner = wrong.locator('#banner.error')
      await banner.waitFor({ timeout: WAIT_MS })
      assert.match((await banner.textContent()) ?? '', /wrong or expired token: the daemon refused it/)
      assert.match((await banner.textContent()) ?? '', /plusone dashboard/)
      assert.equal(await wrong.locator('main').isVisible(), false)
    } finally {
      await wrong.close()
    }
  })

  it('without a token, says how to open the page', async () => {
    const bare = await context.newPage()
    try {
      await bare.goto(`${node.url}/`)
      const banner = bare.locator('#banner.error')
      await banner.waitFor({ timeout: WAIT_MS })
      assert.match((await banner.textContent()) ?? '', /needs the daemon’s API token/)
    } finally {
      await bare.close()
    }
  })
})
