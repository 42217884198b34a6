/**
 * The Market service: wires announcements, bids, executions and claims to the network, and keeps
 * the submitter's jobs (see index.ts for the contract).
 */
import { randomBytes } from 'node:crypto'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Logger } from '@libp2p/interface'
import { BlobCache, blobCidOf, parseBlobCid } from '../blobs/index.js'
import { validateModule } from '../runtime/index.js'
import {
  InvalidJobError,
  JobBusyError,
  MarketStoppedError,
  NoResultError,
  UnknownTaskError,
} from './errors.js'
import { AutoReplication } from './auto.js'
import { Executor } from './executor.js'
import { Journal, type JobRecord, type TaskRecord } from './journal.js'
import { SeenAnnouncements } from './announce.js'
import {
  AUTO_REPLICAS,
  decodeSpec,
  encodeSpec,
  MAX_TASK_TTL_MS,
  NONCE_BYTES,
  type TaskSpec,
  taskIdOf,
  verifyAnnouncement,
} from './spec.js'
import { type Settings, Submitter } from './submitter.js'
import {
  type GossipMessage,
  type JobRequest,
  type JobState,
  type JobView,
  type MarketComponents,
  type MarketEvent,
  type MarketInit,
  type MarketStats,
  type SubmittedJob,
  TASKS_TOPIC,
  type TaskView,
} from './types.js'
import type { MarketTransport } from './transport.js'
import { libp2pTransport } from './transport-libp2p.js'
import { BID_PROTOCOL, MAX_BID_BYTES, RESULT_PROTOCOL } from './wire.js'
import { MAX_ANNOUNCEMENT_BYTES, MAX_CLAIM_BYTES } from './spec.js'
import { INVITE_PROTOCOL, INVITE_TIMEOUT_MS } from './candidates.js'

/** Tasks one job may have. */
/** A job's max price when the submitter names none: 10 credits per Gfuel, in micro-credits. */
export const DEFAULT_MAX_PRICE = 10_000_000

export const MAX_JOB_TASKS = 10_000
export const MAX_INPUT_NAME_CHARS = 256
/** How often re-announcements, stuck reports and give-ups are checked. */
export const TICK_MS = 200
const MIB = 1024 * 1024
const MIN_TASK_TTL_MS = 10 * 60 * 1000
/** Finished jobs older than this are removed with their blobs. @see MarketInit.jobRetentionMs */
export const DEFAULT_JOB_RETENTION_MS = 30 * 24 * 60 * 60 * 1000
/** How often settled and abandoned outputs are collected from the blob cache. */
export const COLLECT_INTERVAL_MS = 5_000
/** How often finished jobs are checked against the retention period. */
export const RETENTION_CHECK_MS = 60 * 60 * 1000

/** What `removeJob` freed. */
export interface RemovedJob {
  jobId: string
  /** Blobs deleted (those no other job or the executor cache still needs). */
  blobs: number
}

type GossipVerdict = 'accept' | 'ignore' | 'reject'

/** The blobs a task record of this node names: module, input and (once accepted) output. */
function cidsOf(r: TaskRecord): string[] {
  const spec = decodeSpec(Buffer.from(r.spec, 'base64'))
  const out = [spec.moduleCid.toString(), spec.inputCid.toString()]
  if (r.outputCid != null) out.push(r.outputCid)
  return out
}

export class Market {
  private readonly log: Logger
  private readonly journal: Journal
  private readonly executor: Executor
  private readonly submitter: Submitter
  private readonly auto: AutoReplication
  private readonly transport: MarketTransport
  private readonly seen = new SeenAnnouncements()
  private readonly listeners = new Set<(e: MarketEvent) => void>()
  private readonly jobs = new Map<string, JobRecord>()
  private readonly tasks = new Map<string, TaskRecord>()
  private readonly counters = { announcementsAccepted: 0, announcementsRejected: 0 }
  private ticker?: NodeJS.Timeout
  private collector?: NodeJS.Timeout
  private collecting = false
  private lastRetentionCheck = 0
  private running = false
  /** The journal and the blob cache's index are read once, on the first start. */
  private loaded = false
  /** CID → how many of this node's own jobs' records name it: never collected while > 0. */
  private readonly owned = new Map<string, number>()
  /** What this node keeps of others' blobs as an executor (absent when `collect: false`). */
  readonly cache?: BlobCache
  private readonly onMessage = (evt: CustomEvent<GossipMessage>): void => {
    void this.onGossip(evt.detail)
  }

  constructor(
    private readonly components: MarketComponents,
    private readonly init: MarketInit = {},
  ) {
    this.log = components.logger.forComponent('plusone:market')
    this.journal = new Journal(components.db)
    const emit = (e: MarketEvent): void => this.emit(e)
    this.auto = new AutoReplication(this.journal, init.adaptive, init.random)
    this.transport = components.transport ?? this.libp2p(components)
    if (init.collect ?? true) {
      this.cache = new BlobCache(
        {
          store: components.blobStore,
          db: components.db,
          owned: (cid) => this.owned.has(cid),
          log: this.log.newScope('cache'),
        },
        { maxBytes: init.cacheBytes },
      )
    }
    this.executor = new Executor(
      components,
      this.transport,
      init.executor ?? {},
      this.log.newScope('executor'),
      emit,
      this.cache,
    )
    const settings: Settings = {
      bidWindowMaxMs: init.bidWindowMaxMs ?? 100,
      bidWindowMinMs: init.bidWindowMinMs ?? 3,
      giveUpAfterMs: init.giveUpAfterMs ?? 120_000,
      stuckAfterMs: init.stuckAfterMs ?? 5_000,
      reannounceMs: init.reannounceMs ?? 1_000,
      rankBids: init.rankBids,
      maxAwardsPerPrefix: init.maxAwardsPerPrefix,
      onSettled: init.onSettled,
      auto: this.auto,
    }
    this.submitter = new Submitter(
      components,
      settings,
      this.journal,
      this.log.newScope('submitter'),
      emit,
      (r) => this.onFinished(r),
      (r) => this.updateTask(r),
      this.transport,
    )
  }

  async start(): Promise<void> {
    if (this.running) return
    const { pubsub } = this.components
    if (!this.loaded) {
      this.loaded = true
      for (const job of await this.journal.jobs()) this.jobs.set(job.jobId, job)
      for (const task of await this.journal.tasks()) {
        this.tasks.set(task.taskId, task)
        this.own(cidsOf(task), 1)
      }
      // before anything arrives to fetch: collects what a previous run (or a crash) left behind
      await this.cache?.load()
    }
    const bidTimeoutMs = (this.init.bidWindowMaxMs ?? 100) + 5_000
    await this.transport.handle(BID_PROTOCOL, (b, from, signal) => this.submitter.onBid(b, from, signal), {
      maxRequestBytes: MAX_BID_BYTES,
      timeoutMs: bidTimeoutMs,
    })
    await this.transport.handle(RESULT_PROTOCOL, (b, from) => this.submitter.onClaim(b, from), {
      maxRequestBytes: MAX_CLAIM_BYTES,
      timeoutMs: 10_000,
    })
    await this.transport.handle(INVITE_PROTOCOL, (b, from) => this.onInvite(b, from.peer), {
      maxRequestBytes: MAX_ANNOUNCEMENT_BYTES,
      timeoutMs: INVITE_TIMEOUT_MS,
    })
    // gossipsub runs the check before it forwards: invalid announcements are rejected and their
    // sender's peer score pays for them; duplicates and expired ones are not forwarded
    pubsub.topicValidators?.set(TASKS_TOPIC, async (_peer, msg) => {
      const verdict = await this.onGossipMessage(msg)
      return verdict === 'accept'
        ? TopicValidatorResult.Accept
        : verdict === 'ignore'
          ? TopicValidatorResult.Ignore
          : TopicValidatorResult.Reject
    })
    pubsub.addEventListener('message', this.onMessage)
    pubsub.subscribe(TASKS_TOPIC)
    this.executor.start()
    this.running = true
    await this.auto.load()
    if (this.init.resume ?? true) {
      // unfinished tasks, and finished ones whose receipts may not all be stored yet
      const settled = await this.journal.settledTasks()
      for (const task of this.tasks.values()) {
        if (task.status !== 'waiting' && task.status !== 'running' && settled.has(task.taskId)) continue
        const specBytes = new Uint8Array(Buffer.from(task.spec, 'base64'))
        await this.submitter.resume(task, decodeSpec(specBytes), specBytes)
      }
    }
    this.ticker = setInterval(() => this.submitter.tick(), TICK_MS)
    this.collector = setInterval(() => void this.collect(), COLLECT_INTERVAL_MS)
    await this.collect()
  }

  /**
   * One round of housekeeping: the cache's settled and abandoned outputs, and (at most once per
   * {@link RETENTION_CHECK_MS}) finished jobs past the retention period. Never two at once.
   */
  async collect(now = Date.now()): Promise<void> {
    if (this.collecting) return
    this.collecting = true
    try {
      const settled = this.init.isSettled
      await this.cache?.collect(settled ?? (() => false), now)
      if (now - this.lastRetentionCheck >= RETENTION_CHECK_MS) {
        this.lastRetentionCheck = now
        await this.removeExpiredJobs(now)
      }
    } catch (err) {
      this.log('collecting blobs: %s', (err as Error).message)
    } finally {
      this.collecting = false
    }
  }

  /** Removes finished jobs whose last task finished longer than the retention period ago. */
  async removeExpiredJobs(now = Date.now()): Promise<string[]> {
    const retention = this.init.jobRetentionMs ?? DEFAULT_JOB_RETENTION_MS
    if (retention <= 0) return []
    const removed: string[] = []
    for (const job of [...this.jobs.values()]) {
      if (this.jobStatus(job.jobId).status === 'running') continue
      const finishedAt = Math.max(
        job.createdAt,
        ...job.tasks.map((t) => this.tasks.get(t.taskId)?.finishedAt ?? job.createdAt),
      )
      if (now - finishedAt < retention) continue
      try {
        await this.removeJob(job.jobId)
        removed.push(job.jobId)
      } catch (err) {
        if ((err as Error).name !== 'JobBusyError') throw err
      }
    }
    if (removed.length > 0) this.log('removed %d jobs past the retention period', removed.length)
    return removed
  }

  /**
   * Removes a finished job: its journal records, and every blob of it (module, inputs, outputs)
   * that no other job of this node and no running task needs. Throws {@link JobBusyError} while a
   * task of it is running or settling (cancel it first).
   */
  async removeJob(jobId: string): Promise<RemovedJob> {
    const job = this.jobs.get(jobId)
    if (job == null) throw new UnknownTaskError(`no job ${jobId} was submitted from this node`)
    const busy = job.tasks.filter((t) => this.submitter.view(t.taskId) != null).length
    if (busy > 0)
      throw new JobBusyError(
        `job ${jobId} has ${busy} task${busy === 1 ? '' : 's'} still running or settling; ` +
          `cancel it first (plusone cancel ${jobId}) and remove it once it has settled`,
      )
    const taskIds = job.tasks.map((t) => t.taskId)
    const cids = new Set<string>()
    for (const id of taskIds) {
      const r = this.tasks.get(id)
      if (r != null) for (const c of cidsOf(r)) cids.add(c)
    }
    // the journal first: a crash before the blobs go leaves orphans the next start collects
    await this.journal.deleteJob(jobId, taskIds)
    this.jobs.delete(jobId)
    for (const id of taskIds) {
      const r = this.tasks.get(id)
      this.tasks.delete(id)
      if (r != null) this.own(cidsOf(r), -1)
    }
    let blobs = 0
    for (const cid of cids) {
      if (this.owned.has(cid) || this.cache?.holds(cid) === true) continue
      if (await this.components.blobStore.delete(parseBlobCid(cid))) blobs++
    }
    this.emit({ type: 'removed', jobId })
    return { jobId, blobs }
  }

  /** A task record changed; an accepted output becomes this job's (kept until the job is removed). */
  private updateTask(r: TaskRecord): void {
    const before = this.tasks.get(r.taskId)
    if (before?.outputCid !== r.outputCid) {
      if (before?.outputCid != null) this.own([before.outputCid], -1)
      if (r.outputCid != null) this.own([r.outputCid], 1)
    }
    this.tasks.set(r.taskId, r)
  }

  private own(cids: readonly string[], delta: 1 | -1): void {
    for (const cid of cids) {
      const n = (this.owned.get(cid) ?? 0) + delta
      if (n > 0) this.owned.set(cid, n)
      else this.owned.delete(cid)
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    clearInterval(this.ticker)
    clearInterval(this.collector)
    const { pubsub } = this.components
    pubsub.topicValidators?.delete(TASKS_TOPIC)
    pubsub.removeEventListener('message', this.onMessage)
    pubsub.unsubscribe(TASKS_TOPIC)
    this.executor.stop()
    this.submitter.stop()
    await this.transport.unhandle(BID_PROTOCOL)
    await this.transport.unhandle(RESULT_PROTOCOL)
    await this.transport.unhandle(INVITE_PROTOCOL)
  }

  private libp2p({ registrar, dialer }: MarketComponents): MarketTransport {
    if (registrar == null || dialer == null)
      throw new TypeError('the market needs a transport, or a libp2p registrar and dialer')
    return libp2pTransport({ registrar, dialer, onError: (err) => this.log('stream: %s', err.message) })
  }

  /** Subscribes to market events; returns the unsubscribe function. */
  on(listener: (e: MarketEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private emit(e: MarketEvent): void {
    for (const l of this.listeners) {
      try {
        l(e)
      } catch (err) {
        this.log.error('listener threw: %s', (err as Error).message)
      }
    }
  }

  private async onGossip(msg: GossipMessage): Promise<void> {
    // with gossipsub's validators the check already ran (onGossipMessage) before delivery
    if (msg.topic !== TASKS_TOPIC || this.components.pubsub.topicValidators != null) return
    await this.onGossipMessage(msg)
  }

  private async onGossipMessage(msg: { type: string; data?: Uint8Array }): Promise<GossipVerdict> {
    if (msg.type !== 'signed' || msg.data == null) {
      this.rejectAnnouncement('unsigned gossip message')
      return 'reject'
    }
    return this.admitAnnouncement(msg.data)
  }

  /** `/plusone/invite/1.0.0`: an announcement sent to this node alone, by its submitter. */
  private async onInvite(body: Uint8Array, from: string): Promise<Uint8Array> {
    await this.admitAnnouncement(body, from)
    return new Uint8Array([1])
  }

  /**
   * Checks an announcement (gossiped, or an invitation from `invitedBy`) and hands it on. Says
   * how gossip should treat it: `reject` what no honest node sends (oversize, malformed,
   * unsigned, forged, another network's), `ignore` what an honest relay may (a duplicate, a
   * replayed round, an expired task), `accept` the rest.
   */
  private async admitAnnouncement(bytes: Uint8Array, invitedBy?: string): Promise<GossipVerdict> {
    let a: Awaited<ReturnType<typeof verifyAnnouncement>>
    const now = Date.now()
    try {
      // an invitation's connection already authenticates its sender (see verifyAnnouncement)
      a = await verifyAnnouncement(bytes, now, this.components.network, invitedBy)
    } catch (err) {
      this.rejectAnnouncement((err as Error).message)
      return /expired/.test((err as Error).message) ? 'ignore' : 'reject'
    }
    if (invitedBy !== undefined && invitedBy !== a.spec.submitter) {
      this.rejectAnnouncement('an invitation from someone other than its submitter', a.taskId)
      return 'reject'
    }
    const admission = this.seen.admit(a, now)
    if (admission !== 'new') {
      this.rejectAnnouncement(admission, a.taskId)
      return 'ignore'
    }
    this.counters.announcementsAccepted++
    this.emit({ type: 'announcement', taskId: a.taskId, accepted: true })
    if (this.running) this.executor.onAnnouncement(a, invitedBy !== undefined)
    return 'accept'
  }

  private rejectAnnouncement(reason: string, taskId?: string): void {
    this.counters.announcementsRejected++
    this.emit({ type: 'announcement', taskId, accepted: false, reason })
  }

  /** Stores the module and inputs as blobs, journals one task per input, and announces them. */
  async submitJob(req: JobRequest): Promise<SubmittedJob> {
    if (!this.running) throw new MarketStoppedError()
    if (req.inputs.length === 0) throw new InvalidJobError('a job needs at least one input')
    if (req.inputs.length > MAX_JOB_TASKS)
      throw new InvalidJobError(`a job has at most ${MAX_JOB_TASKS} inputs`)
    for (const i of req.inputs) {
      if (i.name.length === 0 || i.name.length > MAX_INPUT_NAME_CHARS)
        throw new InvalidJobError('input names must be 1–256 characters')
    }
    const valid = validateModule(req.module)
    if (!valid.ok) throw new InvalidJobError(`The module ${valid.error.message}`)
    const { peerId } = this.components
    // owned before stored: the executor cache never collects a blob a job of ours is storing
    const storing = [
      blobCidOf(req.module).toString(),
      ...req.inputs.map((i) => blobCidOf(i.bytes).toString()),
    ]
    this.own(storing, 1)
    try {
      return await this.storeJob(req, peerId.toString())
    } finally {
      // the journaled tasks own their blobs now (or the submission failed)
      this.own(storing, -1)
    }
  }

  private async storeJob(req: JobRequest, submitter: string): Promise<SubmittedJob> {
    const { blobStore } = this.components
    const moduleCid = await blobStore.put(req.module)
    const jobId = randomBytes(8).toString('hex')
    const now = Date.now()
    const replicas = req.replicas === 'auto' ? AUTO_REPLICAS : (req.replicas ?? 3)
    if (req.replicas !== 'auto' && (!Number.isSafeInteger(replicas) || replicas < 1))
      throw new InvalidJobError(`replicas must be a whole number ≥ 1 or 'auto', got ${req.replicas}`)
    const widest = replicas === AUTO_REPLICAS ? this.auto.policy.replicas : replicas
    const deadlineMs = req.deadlineMs ?? 30_000
    const ttl = Math.min(MAX_TASK_TTL_MS, Math.max(MIN_TASK_TTL_MS, 4 * (2 * widest + 1) * deadlineMs))
    const records: TaskRecord[] = []
    const specs: Array<{ spec: TaskSpec; bytes: Uint8Array }> = []
    for (const input of req.inputs) {
      const spec: TaskSpec = {
        moduleCid,
        inputCid: await blobStore.put(input.bytes),
        fuel: req.fuel ?? 10_000_000_000,
        memoryBytes: (req.memoryMB ?? 256) * MIB,
        maxOutputBytes: req.maxOutputBytes ?? 16 * MIB,
        replicas,
        deadlineMs,
        maxPrice: req.maxPrice ?? DEFAULT_MAX_PRICE,
        jobId,
        nonce: randomBytes(NONCE_BYTES),
        submitter,
        createdAt: now,
        expiresAt: now + ttl,
      }
      const bytes = encodeSpec(spec)
      specs.push({ spec, bytes })
      records.push({
        taskId: taskIdOf(bytes).toString(),
        jobId,
        input: input.name,
        spec: Buffer.from(bytes).toString('base64'),
        round: 0,
        status: 'waiting',
        createdAt: now,
      })
    }
    const job: JobRecord = {
      jobId,
      createdAt: now,
      tasks: records.map((r) => ({ taskId: r.taskId, input: r.input })),
    }
    await this.journal.putJob(job, records)
    this.jobs.set(jobId, job)
    for (const r of records) {
      this.tasks.set(r.taskId, r)
      this.own(cidsOf(r), 1)
    }
    await Promise.all(
      records.map((r, i) => this.submitter.start(r, specs[i].spec, specs[i].bytes, req.inputs[i].bytes)),
    )
    return { jobId, tasks: job.tasks.map((t) => ({ ...t })) }
  }

  private onFinished(r: TaskRecord): void {
    this.updateTask(r)
    this.emit({ type: 'task', taskId: r.taskId, jobId: r.jobId, status: r.status, reason: r.reason })
    const job = this.jobs.get(r.jobId)
    if (job == null) return
    const view = this.jobStatus(job.jobId)
    const done = view.tasks.filter((t) => t.status === 'done').length
    const failed = view.tasks.filter((t) => t.status === 'failed').length
    this.emit({ type: 'job', jobId: job.jobId, status: view.status, done, failed, total: view.tasks.length })
  }

  taskStatus(taskId: string): TaskView {
    const r = this.tasks.get(taskId)
    if (r == null) throw new UnknownTaskError(`no task ${taskId} was submitted from this node`)
    const live = this.submitter.view(taskId)
    const snap = live?.quorum
    const spec = decodeSpec(Buffer.from(r.spec, 'base64'))
    return {
      taskId,
      jobId: r.jobId,
      input: r.input,
      status: r.status,
      outputHash: r.outputHash,
      outputCid: r.outputCid,
      reason: r.reason,
      waiting: this.submitter.waiting(taskId),
      replicas:
        snap?.replicas ??
        r.plan?.quorum.replicas ??
        (spec.replicas === AUTO_REPLICAS ? this.auto.policy.replicas : spec.replicas),
      auto: spec.replicas === AUTO_REPLICAS ? true : undefined,
      awarded: snap?.awarded.length ?? 0,
      claims: live?.claims ?? 0,
      bidders: live?.bidders ?? 0,
      // finished, and no replica's claim is still awaited: its receipts are all signed
      settled: live == null && r.status !== 'waiting' && r.status !== 'running',
      createdAt: r.createdAt,
      finishedAt: r.finishedAt,
    }
  }

  jobStatus(jobId: string): JobView {
    const job = this.jobs.get(jobId)
    if (job == null) throw new UnknownTaskError(`no job ${jobId} was submitted from this node`)
    const tasks = job.tasks.map((t) => {
      const r = this.tasks.get(t.taskId)
      return { taskId: t.taskId, input: t.input, status: r?.status ?? 'waiting', outputHash: r?.outputHash }
    })
    const finished = tasks.every(
      (t) => t.status === 'done' || t.status === 'failed' || t.status === 'cancelled',
    )
    let status: JobState = 'running'
    if (job.cancelled === true) status = 'cancelled'
    else if (finished) {
      if (tasks.every((t) => t.status === 'done')) status = 'done'
      else status = tasks.some((t) => t.status === 'failed') ? 'failed' : 'cancelled'
    }
    const reasons: string[] = []
    if (status === 'running') {
      for (const t of tasks) {
        const w = this.submitter.waiting(t.taskId)
        if (w !== undefined) reasons.push(w)
      }
    }
    const waiting =
      reasons.length === 0
        ? undefined
        : reasons.length === 1
          ? reasons[0]
          : `${reasons.length} tasks waiting; first: ${reasons[0]}`
    return { jobId, status, tasks, waiting, createdAt: job.createdAt }
  }

  listJobs(): JobView[] {
    return [...this.jobs.keys()].map((id) => this.jobStatus(id))
  }

  listTasks(): TaskView[] {
    return [...this.tasks.keys()].map((id) => this.taskStatus(id))
  }

  /** The accepted output of a task. */
  async result(taskId: string): Promise<Uint8Array> {
    const r = this.tasks.get(taskId)
    if (r == null) throw new UnknownTaskError(`no task ${taskId} was submitted from this node`)
    if (r.status !== 'done' || r.outputCid == null)
      throw new NoResultError(`task ${taskId} is ${r.status}; it has no result`)
    const { parseBlobCid } = await import('../blobs/index.js')
    return this.components.blobStore.get(parseBlobCid(r.outputCid))
  }

  /** Cancels a job (every unfinished task) or one task: no more announcing or awarding; executors drop it. */
  async cancel(id: string): Promise<void> {
    const job = this.jobs.get(id)
    if (job != null) {
      job.cancelled = true
      await this.journal.updateJob(job)
      await Promise.all(job.tasks.map((t) => this.cancelTask(t.taskId)))
      return
    }
    if (!this.tasks.has(id)) throw new UnknownTaskError(`no job or task ${id} was submitted from this node`)
    await this.cancelTask(id)
  }

  private cancelTask(taskId: string): Promise<void> {
    return this.submitter.cancel(taskId)
  }

  /** Resolves once the job is no longer running (done, failed or cancelled). */
  async waitForJob(jobId: string, options: { signal?: AbortSignal } = {}): Promise<JobView> {
    const now = this.jobStatus(jobId)
    if (now.status !== 'running') return now
    return new Promise<JobView>((resolve, reject) => {
      const off = this.on((e) => {
        if (e.type !== 'job' || e.jobId !== jobId || e.status === 'running') return
        cleanup()
        resolve(this.jobStatus(jobId))
      })
      const onAbort = (): void => {
        cleanup()
        reject(options.signal?.reason)
      }
      const cleanup = (): void => {
        off()
        options.signal?.removeEventListener('abort', onAbort)
      }
      if (options.signal?.aborted === true) return onAbort()
      options.signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * Adaptive replication's view of an executor: its run of consecutive verified results on this
   * node's tasks, and whether that makes it trusted with single-replica `auto` tasks.
   */
  replicationTrust(peer: string): { run: number; trusted: boolean } {
    const run = this.auto.run(peer)
    return { run, trusted: this.auto.policy.isTrusted(run) }
  }

  stats(): MarketStats {
    return { ...this.executor.stats, ...this.counters, liveTasks: this.submitter.size }
  }
}
