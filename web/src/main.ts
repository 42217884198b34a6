/**
 * The plusone dashboard: one page served by the daemon at `/`, talking to its control API with
 * the token from the URL fragment (`#token=...`, never sent to a server). State comes from the
 * API once, then the event stream drives it: job progress straight from `job` events, lists
 * re-read (coalesced) after task events, slow-moving parts (peers, ledger) every few seconds.
 */
import { Api, UnauthorizedError } from './api.js'
import { earningsChart } from './chart.js'
import { ago, credits, fill, h, progress, short } from './dom.js'
import type {
  IdJson,
  JobJson,
  LedgerJson,
  MarketEvent,
  NodeJson,
  PeerJson,
  StatsJson,
  TaskJson,
} from './types.js'

const TOKEN_KEY = 'plusone-token'
const MAX_EVENTS = 200
const RECENT_TASKS = 30
const SHOWN_JOBS = 20
/** Rows of one job's task table; a job of thousands of tasks shows a count for the rest. */
const SHOWN_JOB_TASKS = 200
/** Events arrive in bursts (a job of 1000 tasks); lists are re-read at most this often. */
const REFRESH_COALESCE_MS = 300
const SLOW_REFRESH_MS = 5_000

interface State {
  id?: IdJson
  self?: NodeJson
  stats?: StatsJson
  ledger?: LedgerJson
  peers: PeerJson[]
  jobs: JobJson[]
  tasks: TaskJson[]
  /** Live counts from `job` events, ahead of the next list refresh. */
  jobProgress: Map<string, { status: string; done: number; failed: number; total: number }>
  events: Array<{ at: number; e: MarketEvent }>
  /** Jobs the user expanded; a re-render keeps them open. */
  openJobs: Set<string>
}

const state: State = {
  peers: [],
  jobs: [],
  tasks: [],
  jobProgress: new Map(),
  events: [],
  openJobs: new Set(),
}

/** Renders at most once per frame however many events arrive (a big job sends thousands). */
const due = new Set<() => void>()
function soonRender(render: () => void): void {
  if (due.size === 0)
    requestAnimationFrame(() => {
      const now = [...due]
      due.clear()
      for (const r of now) r()
    })
  due.add(render)
}

/** The token from `#token=...`, kept for this tab only and wiped from the address bar. */
function takeToken(): string | undefined {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token')
  if (fromHash != null && fromHash !== '') {
    sessionStorage.setItem(TOKEN_KEY, fromHash)
    history.replaceState(null, '', location.pathname)
    return fromHash
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined
}

function banner(kind: 'error' | 'info', ...lines: string[]): void {
  fill('banner', ...lines.map((l) => h('p', {}, l)))
  const el = document.getElementById('banner')
  if (el != null) el.className = lines.length === 0 ? 'hidden' : kind
}

function refused(): void {
  sessionStorage.removeItem(TOKEN_KEY)
  document.body.classList.add('locked')
  banner(
    'error',
    'This dashboard link has a wrong or expired token: the daemon refused it.',
    'Open the dashboard with "plusone dashboard" (or print a fresh link with "plusone dashboard --url"). The daemon makes a new token each time it starts.',
  )
}

function renderNode(): void {
  const { id, self, ledger } = state
  fill(
    'node',
    h(
      'dl',
      {},
      h('dt', {}, 'Peer id'),
      h('dd', { id: 'peer-id', class: 'mono' }, id?.peerId ?? '…'),
      id?.reachability != null && h('dt', {}, 'Reachability'),
      id?.reachability != null && h('dd', { id: 'reachability' }, id.reachability),
      h('dt', {}, 'Listening on'),
      h('dd', { class: 'mono small' }, ...(id?.addresses ?? []).slice(0, 3).map((a) => h('div', {}, a))),
      h('dt', {}, 'Capacity offered'),
      h(
        'dd',
        {},
        self == null
          ? 'looking up this node’s capacity record…'
          : `${self.cores} ${self.cores === 1 ? 'core' : 'cores'} · ${self.memoryMB} MB · ${self.maxTasks} tasks at once · ${self.price} credits/Gfuel`,
      ),
      h('dt', {}, 'Credits'),
      h(
        'dd',
        { id: 'balance' },
        ledger == null
          ? '…'
          : `${credits(ledger.balance)} balance (${credits(ledger.earned)} earned, ${credits(ledger.spent)} spent; limit ${credits(ledger.creditLimit)})`,
      ),
    ),
  )
  const s = state.stats
  fill(
    'stats',
    s == null
      ? ''
      : `executed ${s.executed} · bids sent ${s.bidsSent} · awards won ${s.awardsWon} · own tasks unfinished ${s.liveTasks}`,
  )
}

function downloadButton(api: Api, taskId: string, input: string): HTMLElement {
  const b = h(
    'button',
    { type: 'button', class: 'link', title: `download the output of ${taskId}` },
    'output',
  )
  b.addEventListener('click', () => {
    void api.bytes(`/tasks/${encodeURIComponent(taskId)}/result`).then(
      (blob) => {
        const a = h('a', { href: URL.createObjectURL(blob), download: `${input}.out` })
        a.click()
        setTimeout(() => URL.revokeObjectURL(a.href), 10_000)
      },
      (err: Error) => banner('error', `Could not fetch the output of ${input}: ${err.message}`),
    )
  })
  return b
}

function renderJobs(api: Api): void {
  const jobs = [...state.jobs].sort((a, b) => b.createdAt - a.createdAt).slice(0, SHOWN_JOBS)
  if (jobs.length === 0) {
    fill(
      'jobs',
      h(
        'p',
        { class: 'empty' },
        'No jobs submitted from this node yet (plusone submit MODULE --inputs DIR).',
      ),
    )
    return
  }
  fill(
    'jobs',
    ...jobs.map((j) => {
      const listed = {
        status: j.status,
        done: j.tasks.filter((t) => t.status === 'done').length,
        failed: j.tasks.filter((t) => t.status === 'failed' || t.status === 'cancelled').length,
        total: j.tasks.length,
      }
      const live = state.jobProgress.get(j.jobId)
      const p = live != null && live.done + live.failed > listed.done + listed.failed ? live : listed
      const details = h(
        'details',
        {
          class: `job ${p.status}`,
          'data-job-id': j.jobId,
          'data-status': p.status,
          open: state.openJobs.has(j.jobId) ? '' : undefined,
        },
        h(
          'summary',
          {},
          short(j.jobId, 8),
          h('span', { class: `status ${p.status}` }, p.status),
          progress(p.done, p.total, p.failed),
          h(
            'span',
            { class: 'muted' },
            `${p.done}/${p.total} done${p.failed > 0 ? `, ${p.failed} failed` : ''} · ${ago(j.createdAt)}`,
          ),
        ),
        j.waiting != null && h('p', { class: 'waiting' }, j.waiting),
        h(
          'table',
          {},
          h(
            'tbody',
            {},
            ...j.tasks
              .slice(0, SHOWN_JOB_TASKS)
              .map((t) =>
                h(
                  'tr',
                  {},
                  h('td', {}, t.input),
                  h('td', {}, h('span', { class: `status ${t.status}` }, t.status)),
                  h('td', { class: 'mono small' }, t.outputHash == null ? '' : short(t.outputHash, 8)),
                  h('td', {}, t.status === 'done' ? downloadButton(api, t.taskId, t.input) : ''),
                ),
              ),
          ),
        ),
        j.tasks.length > SHOWN_JOB_TASKS &&
          h(
            'p',
            { class: 'muted' },
            `and ${j.tasks.length - SHOWN_JOB_TASKS} more tasks (plusone status ${j.jobId})`,
          ),
      )
      details.addEventListener('toggle', () => {
        if (details.open) state.openJobs.add(j.jobId)
        else state.openJobs.delete(j.jobId)
      })
      return details
    }),
  )
}

function renderTasks(): void {
  const active = state.tasks.filter((t) => t.status === 'waiting' || t.status === 'running')
  const recent = state.tasks
    .filter((t) => t.status !== 'waiting' && t.status !== 'running')
    .sort((a, b) => (b.finishedAt ?? b.createdAt) - (a.finishedAt ?? a.createdAt))
  const shown = [...active, ...recent].slice(0, RECENT_TASKS)
  if (shown.length === 0) {
    fill('tasks', h('p', { class: 'empty' }, 'No tasks yet.'))
    return
  }
  fill(
    'tasks',
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h('tr', {}, ...['task', 'input', 'status', 'replicas', 'progress', ''].map((c) => h('th', {}, c))),
      ),
      h(
        'tbody',
        {},
        ...shown.map((t) =>
          h(
            'tr',
            { 'data-task-id': t.taskId },
            h('td', {}, short(t.taskId)),
            h('td', {}, t.input),
            h('td', {}, h('span', { class: `status ${t.status}` }, t.status)),
            h(
              'td',
              {},
              t.status === 'waiting' || t.status === 'running'
                ? `${t.awarded}/${t.replicas} awarded`
                : t.replicas,
            ),
            h(
              'td',
              {},
              t.status === 'done' ? progress(1, 1) : progress(Math.min(t.claims, t.replicas), t.replicas),
            ),
            h('td', { class: 'muted' }, t.waiting ?? t.reason ?? ago(t.finishedAt ?? t.createdAt)),
          ),
        ),
      ),
    ),
  )
}

function renderLedger(): void {
  const l = state.ledger
  if (l == null) return
  const total = l.earnings.reduce((n, e) => n + e.credits, 0)
  fill(
    'earnings',
    earningsChart(l.earnings),
    h(
      'p',
      { class: 'muted' },
      `${credits(total)} credits earned from ${l.earnings.reduce((n, e) => n + e.tasks, 0)} accepted results (${l.receipts.stored} signed receipts held)`,
    ),
  )
  fill(
    'reputation',
    l.peers.length === 0
      ? h('p', { class: 'empty' }, 'No receipts yet: reputation comes from signed receipts of settled tasks.')
      : h(
          'table',
          {},
          h(
            'thead',
            {},
            h('tr', {}, ...['peer', 'score', 'accepted', 'rejected', 'timed out'].map((c) => h('th', {}, c))),
          ),
          h(
            'tbody',
            {},
            ...l.peers
              .slice(0, 20)
              .map((p) =>
                h(
                  'tr',
                  {},
                  h('td', {}, short(p.peerId)),
                  h('td', {}, h('meter', { min: 0, max: 1, value: p.score }), ` ${p.score.toFixed(2)}`),
                  h('td', {}, p.accepted),
                  h('td', {}, p.rejected),
                  h('td', {}, p.timedOut),
                ),
              ),
          ),
        ),
  )
}

function renderPeers(): void {
  fill(
    'peers',
    state.peers.length === 0
      ? h('p', { class: 'empty' }, 'Not connected to any peer.')
      : h(
          'table',
          {},
          h(
            'tbody',
            {},
            ...state.peers.map((p) =>
              h(
                'tr',
                {},
                h('td', {}, short(p.peerId)),
                h('td', { class: 'mono small clip', title: p.addresses.join('\n') }, p.addresses[0] ?? ''),
                h(
                  'td',
                  { class: 'nowrap' },
                  p.latencyMs == null ? 'no ping' : `${Math.round(p.latencyMs)} ms`,
                ),
              ),
            ),
          ),
        ),
  )
}

function describe(e: MarketEvent): string {
  switch (e.type) {
    case 'task':
      return `task ${e.taskId.slice(-8)} ${e.status}${e.reason == null ? '' : `: ${e.reason}`}`
    case 'job':
      return `job ${e.jobId.slice(-8)} ${e.status} (${e.done}/${e.total} done${e.failed > 0 ? `, ${e.failed} failed` : ''})`
    case 'stuck':
      return `task ${e.taskId.slice(-8)} stuck: ${e.waiting}`
    case 'announcement':
      return `announcement ${e.taskId?.slice(-8) ?? ''} ${e.accepted ? 'accepted' : `refused: ${e.reason ?? ''}`}`
    case 'bid':
      return `bid from ${e.peer.slice(-8)} on ${e.taskId.slice(-8)}: ${e.decision}${e.reason == null ? '' : ` (${e.reason})`}`
    case 'executed':
      return `executed ${e.taskId.slice(-8)}: ${e.status}`
    case 'dropped':
      return `dropped ${e.taskId.slice(-8)}: ${e.reason}`
    case 'removed':
      return `job ${e.jobId.slice(-8)} removed`
  }
}

function renderEvents(): void {
  fill(
    'events',
    ...(state.events.length === 0
      ? [h('li', { class: 'empty' }, 'Waiting for events…')]
      : state.events.map((x) =>
          h(
            'li',
            { class: `ev ${x.e.type}` },
            h('time', {}, new Date(x.at).toLocaleTimeString()),
            ' ',
            describe(x.e),
          ),
        )),
  )
}

function renderAll(api: Api): void {
  renderNode()
  renderJobs(api)
  renderTasks()
  renderLedger()
  renderPeers()
  renderEvents()
}

async function main(): Promise<void> {
  const token = takeToken()
  if (token == null) {
    document.body.classList.add('locked')
    banner(
      'error',
      'This page needs the daemon’s API token in its address (…/#token=…).',
      'Open it with "plusone dashboard", or print the link with "plusone dashboard --url".',
    )
    return
  }
  const api = new Api(token)
  const stop = new AbortController()
  const guard = (p: Promise<unknown>): void => {
    p.catch((err: Error) => {
      if (err instanceof UnauthorizedError) {
        stop.abort()
        refused()
      } else if (!stop.signal.aborted) {
        banner('info', `The daemon did not answer: ${err.message}. Retrying…`)
      }
    })
  }

  const loadLists = async (): Promise<void> => {
    const [jobs, tasks, stats] = await Promise.all([
      api.get<JobJson[]>('/jobs', stop.signal),
      api.get<TaskJson[]>('/tasks', stop.signal),
      api.get<StatsJson>('/stats', stop.signal),
    ])
    Object.assign(state, { jobs, tasks, stats })
    for (const j of jobs) if (j.status !== 'running') state.jobProgress.delete(j.jobId)
    renderJobs(api)
    renderTasks()
    renderNode()
  }
  const loadSlow = async (): Promise<void> => {
    const [peers, ledger] = await Promise.all([
      api.get<PeerJson[]>('/peers', stop.signal),
      api.get<LedgerJson>('/ledger', stop.signal),
    ])
    Object.assign(state, { peers, ledger })
    banner('info')
    renderPeers()
    renderLedger()
    renderNode()
  }
  const loadSelf = async (): Promise<void> => {
    const nodes = await api.get<NodeJson[]>('/nodes', stop.signal)
    state.self = nodes.find((n) => n.self)
    renderNode()
  }

  let refreshQueued = false
  const soon = (): void => {
    if (refreshQueued) return
    refreshQueued = true
    setTimeout(() => {
      refreshQueued = false
      guard(loadLists())
    }, REFRESH_COALESCE_MS)
  }
  const renderJobsNow = (): void => renderJobs(api)
  const onEvent = (e: MarketEvent): void => {
    state.events.unshift({ at: Date.now(), e })
    state.events.length = Math.min(state.events.length, MAX_EVENTS)
    soonRender(renderEvents)
    if (e.type === 'job') {
      state.jobProgress.set(e.jobId, e)
      if (!state.jobs.some((j) => j.jobId === e.jobId)) soon()
      soonRender(renderJobsNow)
    }
    if (e.type === 'task' || e.type === 'job' || e.type === 'executed' || e.type === 'stuck') soon()
  }
  const onLive = (live: boolean): void => {
    const el = document.getElementById('conn')
    if (el == null) return
    el.textContent = live ? 'live' : 'reconnecting…'
    el.className = live ? 'pill live' : 'pill down'
    // whatever happened while the stream was down is read again
    if (live) soon()
  }

  renderAll(api)
  try {
    state.id = await api.get<IdJson>('/id', stop.signal)
  } catch (err) {
    if (err instanceof UnauthorizedError) return refused()
    banner('error', `Cannot reach the daemon: ${(err as Error).message}`)
    return
  }
  renderNode()
  guard(api.follow(onEvent, onLive, stop.signal))
  guard(loadLists())
  // a lookup still under way (a DHT search can take seconds) is not started again
  const inFlight = new Set<() => Promise<void>>()
  const once = (load: () => Promise<void>): void => {
    if (inFlight.has(load)) return
    inFlight.add(load)
    guard(load().finally(() => inFlight.delete(load)))
  }
  once(loadSlow)
  once(loadSelf)
  const slow = setInterval(() => {
    if (stop.signal.aborted) return clearInterval(slow)
    once(loadSlow)
    if (state.self == null) once(loadSelf)
  }, SLOW_REFRESH_MS)
}

void main()
