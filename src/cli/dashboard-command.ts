import { spawn } from 'node:child_process'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { connect, DaemonNotRunningError, readApiInfo } from '../client/index.js'
import { resolveDataDir } from '../config.js'
import { CliError, type Command, DATA_DIR_HELP, DATA_DIR_OPTION, help, parse } from './common.js'

const OPTIONS = { ...DATA_DIR_OPTION, url: { type: 'boolean' } } as const

/** The redirect page `plusone dashboard` opens (in the data directory, readable by its owner only). */
export const DASHBOARD_OPEN_FILE = 'dashboard.html'
/** A daemon that does not answer this fast would not serve the page either. */
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
${DATA_DIR_HELP}
`,
  options: OPTIONS,
  async run(argv) {
    const { values } = parse('dashboard', argv, OPTIONS)
    if (values.help) return help(dashboardCommand)
    const dataDir = resolveDataDir(values['data-dir'])
    // a stale api.json (daemon killed) would open a page that cannot load: the client says why
    await (await connect({ dataDir, timeoutMs: CHECK_TIMEOUT_MS })).id()
    const api = await readApiInfo(dataDir)
    if (api == null) throw new DaemonNotRunningError(dataDir)
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
