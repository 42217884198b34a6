import { readEvents } from './events.js'
import { type ApiResponse, type Endpoint, type RequestOptions, send } from './transport.js'
import type {
  JobState,
  JobView,
  LedgerView,
  MarketEvent,
  MarketStats,
  RemovedJob,
  NodeIdentity,
  NodeRecord,
  PeerInfo,
  ReachabilityReport,
  SubmitBody,
  SubmittedJob,
  TaskState,
  TaskView,
} from './types.js'

/** How long a call waits for the daemon to start answering. @default 10 s */
export const DEFAULT_TIMEOUT_MS = 10_000
/** A submission uploads the module and every input: it gets longer. @default 5 min */
export const SUBMIT_TIMEOUT_MS = 5 * 60_000
/** Outputs fetched at once by `Job.result()`. */
const RESULT_CONCURRENCY = 8
const MICRO = 1_000_000

/** A job to submit: one task per input. Options mirror `plusone submit`'s flags. */
export interface SubmitRequest {
  /** The WebAssembly module. */
  module: Uint8Array
  /** One task per input; `name` names its output in `plusone submit --out`. */
  inputs: Array<{ name: string; data: Uint8Array }>
  /** Independent executors per task (a strict majority must agree), or `'auto'`. @default 3 */
  replicas?: number | 'auto'
  /** Fuel per task. @default 10_000_000_000 */
  fuel?: number | bigint
  /** Memory per task, MiB. @default 256 */
  memoryMB?: number
  /** Largest output accepted, bytes. @default 16 MiB */
  maxOutputBytes?: number
  /** Time an executor has per task, ms. @default 30_000 */
  deadlineMs?: number
  /** Most you pay, credits per Gfuel. @default no limit */
  maxPrice?: number
}

/** One step of a job's progress. */
export interface JobProgress {
  jobId: string
  status: JobState
  /** Tasks done (verified). */
  done: number
  /** Tasks failed or cancelled. */
  failed: number
  total: number
  /** Why the job waits, when the daemon has said so. */
  waiting?: string
}

/** A finished job with its outputs. */
export interface JobResult {
  jobId: string
  status: JobState
  tasks: Array<{
    taskId: string
    input: string
    status: TaskState
    /** sha256 of the output, hex, when done. */
    outputHash?: string
    /** The verified output when done, else null. */
    output: Uint8Array | null
  }>
}

export interface ClientInit extends Endpoint {
  /** @default DEFAULT_TIMEOUT_MS */
  timeoutMs?: number
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

function path(prefix: string, id: string, suffix = ''): string {
  return `${prefix}/${encodeURIComponent(id)}${suffix}`
}

/**
 * A typed client of one daemon's control API (`/api/v1`), one method per route. Every method
 * takes an AbortSignal; errors are DaemonNotRunningError, DaemonUnreachableError,
 * DaemonTimeoutError or ApiError (see errors.ts).
 */
export class PlusoneClient {
  readonly url: string
  readonly #endpoint: Endpoint
  readonly #timeoutMs: number

  constructor(init: ClientInit) {
    this.#endpoint = {
      url: init.url.replace(/\/+$/, ''),
      token: init.token,
      source: init.source,
      pid: init.pid,
    }
    this.url = this.#endpoint.url
    this.#timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS
  }

  /** Sends one request; resolves once the daemon's answer starts. For routes without a method here. */
  request(method: string, route: string, body?: unknown, options: RequestOptions = {}): Promise<ApiResponse> {
    return send(this.#endpoint, method, route, body, options.timeoutMs ?? this.#timeoutMs, options.signal)
  }

  async #json<T>(method: string, route: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return (await (await this.request(method, route, body, options)).json()) as T
  }

  /** `GET /id`: this node's peer id and listen addresses. */
  id(options?: RequestOptions): Promise<NodeIdentity> {
    return this.#json('GET', '/id', undefined, options)
  }

  /** `GET /peers`: connected peers with latency. */
  peers(options?: RequestOptions): Promise<PeerInfo[]> {
    return this.#json('GET', '/peers', undefined, options)
  }

  /** `GET /reachability`: can others dial this node, which relays it holds, UPnP. */
  reachability(options?: RequestOptions): Promise<ReachabilityReport> {
    return this.#json('GET', '/reachability', undefined, options)
  }

  /** `GET /nodes`: capacity records found through the DHT, this node's own included. */
  nodes(options?: RequestOptions): Promise<NodeRecord[]> {
    return this.#json('GET', '/nodes', undefined, options)
  }

  /** `POST /jobs`: submits a job and returns a handle to follow it. */
  async submit(req: SubmitRequest, options: RequestOptions = {}): Promise<Job> {
    if (req.inputs.length === 0) throw new TypeError('submit: inputs must list at least one input')
    const body: SubmitBody = {
      module: base64(req.module),
      inputs: req.inputs.map((i) => ({ name: i.name, data: base64(i.data) })),
      replicas: req.replicas,
      fuel: req.fuel == null ? undefined : Number(req.fuel),
      memoryMB: req.memoryMB,
      maxOutputBytes: req.maxOutputBytes,
      deadlineMs: req.deadlineMs,
      maxPrice: req.maxPrice == null ? undefined : Math.round(req.maxPrice * MICRO),
    }
    const submitted = await this.#json<SubmittedJob>('POST', '/jobs', body, {
      ...options,
      timeoutMs: options.timeoutMs ?? Math.max(SUBMIT_TIMEOUT_MS, this.#timeoutMs),
    })
    return new Job(this, submitted)
  }

  /** A handle on a job submitted earlier (its tasks are read from the daemon). */
  async attach(jobId: string, options?: RequestOptions): Promise<Job> {
    const view = await this.job(jobId, options)
    return new Job(this, {
      jobId: view.jobId,
      tasks: view.tasks.map((t) => ({ taskId: t.taskId, input: t.input })),
    })
  }

  /** `GET /jobs`: the jobs this node submitted. */
  jobs(options?: RequestOptions): Promise<JobView[]> {
    return this.#json('GET', '/jobs', undefined, options)
  }

  /** `GET /jobs/:id`. */
  job(jobId: string, options?: RequestOptions): Promise<JobView> {
    return this.#json('GET', path('/jobs', jobId), undefined, options)
  }

  /** `GET /tasks`: the tasks this node submitted. */
  tasks(options?: RequestOptions): Promise<TaskView[]> {
    return this.#json('GET', '/tasks', undefined, options)
  }

  /** `GET /tasks/:id`. */
  task(taskId: string, options?: RequestOptions): Promise<TaskView> {
    return this.#json('GET', path('/tasks', taskId), undefined, options)
  }

  /** `GET /tasks/:id/result`: a finished task's verified output. */
  async result(taskId: string, options?: RequestOptions): Promise<Uint8Array> {
    return (await this.request('GET', path('/tasks', taskId, '/result'), undefined, options)).bytes()
  }

  /** `POST /cancel/:id`: cancels a job or a task. */
  async cancel(id: string, options?: RequestOptions): Promise<void> {
    await this.#json('POST', path('/cancel', id), undefined, options)
  }

  /**
   * `DELETE /jobs/:id`: removes a finished job and the blobs only it needs. Fails with an
   * `ApiError` of status 409 while a task of it is running or settling (cancel it first).
   */
  removeJob(jobId: string, options?: RequestOptions): Promise<RemovedJob> {
    return this.#json('DELETE', path('/jobs', jobId), undefined, options)
  }

  /** `GET /stats`: this node's market counters. */
  stats(options?: RequestOptions): Promise<MarketStats> {
    return this.#json('GET', '/stats', undefined, options)
  }

  /** `GET /ledger`: balance, earnings and peers by reputation, from signed receipts. */
  ledger(options?: RequestOptions): Promise<LedgerView> {
    return this.#json('GET', '/ledger', undefined, options)
  }

  /** `GET /ledger/export`: every stored receipt with its signature, as csv or json text. */
  async exportReceipts(format: 'csv' | 'json', options?: RequestOptions): Promise<string> {
    return (await this.request('GET', `/ledger/export?format=${format}`, undefined, options)).text()
  }

  /**
   * `GET /events`: the daemon's market events as they happen (server-sent events), until
   * `signal` aborts (then the iteration ends quietly) or the daemon stops.
   */
  async *events(options: RequestOptions = {}): AsyncGenerator<MarketEvent> {
    yield* await this.subscribe(options)
  }

  /**
   * Like `events()`, but resolves once the stream is open, so nothing that happens after this
   * resolves is missed.
   */
  async subscribe(options: RequestOptions = {}): Promise<AsyncGenerator<MarketEvent>> {
    const res = await this.request('GET', '/events', undefined, options)
    return readEvents(res)
  }
}

/** A submitted job: follow its progress, wait for its outputs, or cancel it. */
export class Job {
  readonly jobId: string
  /** One task per input, in the order submitted. */
  readonly tasks: ReadonlyArray<{ taskId: string; input: string }>
  readonly #client: PlusoneClient

  constructor(client: PlusoneClient, submitted: SubmittedJob) {
    this.#client = client
    this.jobId = submitted.jobId
    this.tasks = submitted.tasks
  }

  /** The job as the daemon sees it now. */
  status(options?: RequestOptions): Promise<JobView> {
    return this.#client.job(this.jobId, options)
  }

  cancel(options?: RequestOptions): Promise<void> {
    return this.#client.cancel(this.jobId, options)
  }

  /**
   * Progress from the daemon's event stream: the state now, then one step per finished task
   * (and whenever the daemon explains a wait), ending with the step whose status is not
   * `running`.
   */
  async *progress(options: RequestOptions = {}): AsyncGenerator<JobProgress> {
    const stop = new AbortController()
    const signal = options.signal == null ? stop.signal : AbortSignal.any([options.signal, stop.signal])
    try {
      // subscribe first, then read the state: a task finishing in between is still seen
      const events = await this.#client.subscribe({ ...options, signal })
      const view = await this.status(options)
      let last = fromView(view)
      yield last
      if (last.status !== 'running') return
      const ids = new Set(this.tasks.map((t) => t.taskId))
      for await (const e of events) {
        if (e.type === 'job' && e.jobId === this.jobId) {
          last = { jobId: this.jobId, status: e.status, done: e.done, failed: e.failed, total: e.total }
          yield last
          if (last.status !== 'running') return
        } else if (e.type === 'stuck' && ids.has(e.taskId) && e.waiting !== last.waiting) {
          last = { ...last, waiting: e.waiting }
          yield last
        }
      }
      options.signal?.throwIfAborted()
      // the stream ended (the daemon stopped or restarted): the state decides
      last = fromView(await this.status(options))
      if (last.status === 'running')
        throw new Error(`the daemon at ${this.#client.url} closed its event stream`)
      yield last
    } finally {
      stop.abort()
    }
  }

  /** Waits for the job to finish and fetches every verified output. */
  async result(options: RequestOptions = {}): Promise<JobResult> {
    for await (const _ of this.progress(options)) {
      // progress ends once the job is no longer running
    }
    const view = await this.status(options)
    const tasks: JobResult['tasks'] = view.tasks.map((t) => ({
      taskId: t.taskId,
      input: t.input,
      status: t.status,
      outputHash: t.outputHash,
      output: null,
    }))
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < tasks.length) {
        const t = tasks[next++]
        if (t.status === 'done') t.output = await this.#client.result(t.taskId, options)
      }
    }
    await Promise.all(Array.from({ length: Math.min(RESULT_CONCURRENCY, tasks.length) }, worker))
    return { jobId: view.jobId, status: view.status, tasks }
  }
}

function fromView(view: JobView): JobProgress {
  let done = 0
  let failed = 0
  for (const t of view.tasks) {
    if (t.status === 'done') done++
    else if (t.status === 'failed' || t.status === 'cancelled') failed++
  }
  return {
    jobId: view.jobId,
    status: view.status,
    done,
    failed,
    total: view.tasks.length,
    waiting: view.waiting,
  }
}
