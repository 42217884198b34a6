import { spawn } from 'node:child_process'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { API_FILE, resolveDataDir } from '../config.js'
import { CliError, type Command, DATA_DIR_OPTION, parse } from './common.js'

/** The redirect page `plusone dashboard` opens (in the data directory, readable by its owner only). */
export const DASHBOARD_OPEN_FILE = 'dashboard.html'
const CHECK_TIMEOUT_MS = 5_000

/** The dashboard's address with the token in the fragment, which a browser never sends to a server. */
export function dashboardUrl(apiUrl: string, token: string): string {
  const url = new URL(apiUrl)
  // a daemon listening on every interface is reached on loopback
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1'
  if (url.hostname === '[::]') url.hostname = '[::1]'
  url.pathname = '/'
  url.hash = `token=${token}`
  return url.toString()
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** The command that opens a file or URL in the desktop's default application. */
function opener(target: string): [string, string[]] {
  if (process.platform === 'darwin') return ['open', [target]]
  if (process.platform === 'win32') return ['cmd', ['/c', 'start', '""', target]]
  return ['xdg-open', [target]]
}

function launch(target: string): Promise<void> {
  const [cmd, args] = opener(target)
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true })
    child.once('error', (err) => reject(new CliError(`cannot run ${cmd}: ${err.message}`)))
    child.once('spawn', () => {
      child.unref()
      resolve()
    })
  })
}

export const dashboardCommand: Command = {
  name: 'dashboard',
  summary: "open the daemon's live web dashboard in the default browser (or print its URL)",
  help: `Usage: plusone dashboard [--url]

Opens the running daemon's dashboard (this node, peers, tasks, jobs, earnings, live events) in
the default browser. The link carries the daemon's API token in its fragment (#token=...),
which the browser keeps to itself: it never reaches a server or its logs. The daemon makes a
new token each time it starts, so open the dashboard again after a restart.

The browser is handed a small redirect page in the data directory (readable by you only)
rather than the link itself, so the token never appears in the process list.

Options:
      --url               only print the dashboard's URL (for another browser, or ssh -L)
      --data-dir D        data directory (default: $PLUSONE_DATA_DIR, else ~/.plusone)
`,
  async run(argv) {
    const { values } = parse('dashboard', argv, { ...DATA_DIR_OPTION, url: { type: 'boolean' } })
    if (values.help) {
      process.stdout.write(dashboardCommand.help)
      return 0
    }
    const dataDir = resolveDataDir(values['data-dir'])
    let api: { url: string; token: string }
    try {
      api = JSON.parse(await readFile(join(dataDir, API_FILE), 'utf8'))
      if (typeof api.url !== 'string' || typeof api.token !== 'string') throw new Error('malformed')
    } catch {
      throw new CliError(
        `no plusone daemon is running for ${dataDir} (start one with: plusone daemon --data-dir ${dataDir})`,
      )
    }
    // a stale api.json (daemon killed) would open a page that cannot load
    try {
      const res = await fetch(`${api.url}/api/v1/id`, {
        headers: { authorization: `Bearer ${api.token}` },
        signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
      })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
    } catch (err) {
      const why =
        (err as Error).name === 'TimeoutError'
          ? `did not answer within ${CHECK_TIMEOUT_MS / 1000} s`
          : `cannot be reached (${(err as Error).message})`
      throw new CliError(`the daemon at ${api.url} (from ${join(dataDir, API_FILE)}) ${why}`)
    }
    const url = dashboardUrl(api.url, api.token)
    if (values.url === true) {
      process.stdout.write(`${url}\n`)
      return 0
    }
    const page = join(dataDir, DASHBOARD_OPEN_FILE)
    const tmp = `${page}.${process.pid}.tmp`
    const href = escapeHtml(url)
    await writeFile(
      tmp,
      `<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer"><meta http-equiv="refresh" content="0;url=${href}"><title>plusone dashboard</title><p><a href="${href}">Open the plusone dashboard</a></p>\n`,
      { mode: 0o600 },
    )
    await rename(tmp, page)
    await launch(page)
    process.stderr.write(`opened the dashboard in your browser (plusone dashboard --url prints its link)\n`)
    return 0
  },
}
