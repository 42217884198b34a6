import { Counter, Gauge, Registry } from 'prom-client'
import { type BlobServiceStats, type BlobStore, parseBlobCid } from '../blobs/index.js'
import type { MarketEvent, MarketStats, TaskSettlement } from '../market/index.js'
import type { Outcome, RunRequest } from '../runtime/index.js'

/** Micro-credits per credit: the ledger counts micro-credits, metrics report credits. */
const MICRO = 1e6
/** Finished jobs remembered so a repeated final `job` event is counted once. */
export const MAX_REMEMBERED_JOBS = 10_000

/** What the metrics read from a daemon when scraped: narrow views, so a test can hand in fakes. */
export interface DaemonMetricsSources {
  market: { on(listener: (e: MarketEvent) => void): () => void; stats(): MarketStats }
  /** This node's account: micro-credits earned and spent over accepted receipts. */
  account(): { earned: bigint; spent: bigint; balance: bigint }
  settlementStats(): { published: number; received: number; rejected: number }
  blobStats(): BlobServiceStats
  /** Bytes held in the blob store now. */
  blobBytes(): Promise<number>
}

type Runtime = { run(req: RunRequest): Promise<Outcome> }

/**
 * plusone's own Prometheus metrics (prefix `plusone_`) in one registry per daemon. Events are
 * counted where they happen by subscribing to the market's events and by wrapping the runtime
 * and the settlement hook; totals the services already keep (bids sent, blob bytes, receipts,
 * credits) are read from the sources given to `start` when Prometheus scrapes. The runtime
 * wrapper and the settlement hook work from construction, because the market needs them before
 * it exists. The registry is also handed to libp2p's `@libp2p/prometheus-metrics`, so one scrape
 * returns both.
 */
export class DaemonMetrics {
  readonly registry = new Registry()
  readonly #tasks: Counter<'outcome'>
  readonly #jobs: Counter<'outcome'>
  readonly #executions: Counter<'status'>
  readonly #fuel: Counter
  readonly #running: Gauge
  readonly #bidsReceived: Counter<'decision'>
  readonly #reissues: Counter
  readonly #verdicts: Counter<'verdict'>
  readonly #disagreements: Counter
  #off?: () => void
  #sources?: DaemonMetricsSources
  readonly #finishedJobs = new Set<string>()

  constructor() {
    const registers = [this.registry]
    // a scrape before start() reports zeros
    const c = {
      stats: (): MarketStats =>
        this.#sources?.market.stats() ?? {
          executed: 0,
          bidsSent: 0,
          awardsWon: 0,
          claimsSent: 0,
          announcementsDropped: 0,
          submittersDropped: 0,
          announcementsAccepted: 0,
          announcementsRejected: 0,
          liveTasks: 0,
        },
      account: () => this.#sources?.account() ?? { earned: 0n, spent: 0n, balance: 0n },
      settlementStats: () => this.#sources?.settlementStats() ?? { published: 0, received: 0, rejected: 0 },
      blobStats: (): BlobServiceStats =>
        this.#sources?.blobStats() ?? {
          activeServes: 0,
          servedStreams: 0,
          servedBytes: 0,
          refusedBusy: 0,
          transfers: 0,
          fetchedBytes: 0,
          frameBuffers: 0,
        },
    }
    this.#tasks = new Counter({
      name: 'plusone_tasks_total',
      help: 'Tasks submitted from this node that finished, by outcome.',
      labelNames: ['outcome'],
      registers,
    })
    this.#jobs = new Counter({
      name: 'plusone_jobs_total',
      help: 'Jobs submitted from this node that finished, by outcome.',
      labelNames: ['outcome'],
      registers,
    })
    this.#executions = new Counter({
      name: 'plusone_executions_total',
      help: 'Tasks this node ran in its sandbox as an executor, by outcome status.',
      labelNames: ['status'],
      registers,
    })
    this.#fuel = new Counter({
      name: 'plusone_execution_fuel_total',
      help: 'Fuel (metered WebAssembly instructions) this node burned executing tasks.',
      registers,
    })
    this.#running = new Gauge({
      name: 'plusone_executions_running',
      help: 'Executions in the sandbox now.',
      registers,
    })
    this.#bidsReceived = new Counter({
      name: 'plusone_bids_received_total',
      help: "Bids on this node's tasks, by the submitter's decision.",
      labelNames: ['decision'],
      registers,
    })
    this.#reissues = new Counter({
      name: 'plusone_reissues_total',
      help: "Awards beyond a task's replicas, made because an executor disagreed or did not answer.",
      registers,
    })
    this.#verdicts = new Counter({
      name: 'plusone_verdicts_total',
      help: "Verdicts on executors of this node's settled tasks.",
      labelNames: ['verdict'],
      registers,
    })
    this.#disagreements = new Counter({
      name: 'plusone_verification_disagreements_total',
      help: 'Results that disagreed with the accepted majority (rejected executors).',
      registers,
    })
    // every series a dashboard graphs exists from the first scrape, so rate() sees the first event
    for (const o of ['done', 'failed', 'cancelled']) {
      this.#tasks.labels(o).inc(0)
      this.#jobs.labels(o).inc(0)
    }
    for (const d of ['award', 'decline']) this.#bidsReceived.labels(d).inc(0)
    for (const v of ['accepted', 'rejected', 'timed_out']) this.#verdicts.labels(v).inc(0)
    this.#executions.labels('ok').inc(0)
    /** A total some service keeps, read when scraped. */
    const total = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset()
          this.inc(read())
        },
      })
    }
    /** A level read when scraped. */
    const level = (name: string, help: string, read: () => number | Promise<number>): void => {
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          this.set(await read())
        },
      })
    }
    total('plusone_bids_sent_total', 'Bids this node sent as an executor.', () => c.stats().bidsSent)
    total('plusone_awards_won_total', 'Awards this node won as an executor.', () => c.stats().awardsWon)
    total('plusone_claims_sent_total', 'Signed result claims this node sent.', () => c.stats().claimsSent)
    level(
      'plusone_queue_depth',
      'Tasks submitted from this node that are not finished.',
      () => c.stats().liveTasks,
    )
    const credits = (micro: bigint): number => Number(micro) / MICRO
    total('plusone_credits_earned_total', 'Credits earned (accepted receipts).', () =>
      credits(c.account().earned),
    )
    total('plusone_credits_spent_total', 'Credits spent (accepted receipts).', () =>
      credits(c.account().spent),
    )
    level('plusone_credit_balance', 'Credits earned minus credits spent.', () => credits(c.account().balance))
    new Counter({
      name: 'plusone_receipts_total',
      help: 'Signed receipts this node published, received from peers, and rejected as invalid.',
      labelNames: ['event'],
      registers,
      collect() {
        const s = c.settlementStats()
        this.reset()
        this.labels('published').inc(s.published)
        this.labels('received').inc(s.received)
        this.labels('rejected').inc(s.rejected)
      },
    })
    total('plusone_blob_served_bytes_total', 'Blob bytes served to peers.', () => c.blobStats().servedBytes)
    total(
      'plusone_blob_fetched_bytes_total',
      'Verified blob bytes fetched.',
      () => c.blobStats().fetchedBytes,
    )
    // one stat per blob on each scrape: exact, and cheap at Prometheus' scrape intervals
    level(
      'plusone_blob_stored_bytes',
      'Bytes held in the blob store (modules, inputs, outputs).',
      async () => (await this.#sources?.blobBytes()) ?? 0,
    )
  }

  /** Starts counting market events and reading `sources` on each scrape. */
  start(sources: DaemonMetricsSources): void {
    this.#off?.()
    this.#sources = sources
    this.#off = sources.market.on((e) => this.#onMarket(e))
  }

  stop(): void {
    this.#off?.()
    this.#off = undefined
  }

  /** The Prometheus text exposition of every metric in the registry. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }

  /** The runtime, with every execution counted (outcome status, fuel, in flight). */
  instrument(runtime: Runtime): Runtime {
    return {
      run: async (req) => {
        this.#running.inc()
        try {
          const outcome = await runtime.run(req)
          this.#executions.labels(outcome.status).inc()
          this.#fuel.inc(Number(outcome.fuelUsed))
          return outcome
        } catch (err) {
          this.#executions.labels('aborted').inc()
          throw err
        } finally {
          this.#running.dec()
        }
      },
    }
  }

  /**
   * Counts a settled task's verdicts, disagreements and reissues (from the market's
   * `onSettled`); `replicas` is what the task was run with, when known.
   */
  settled(s: TaskSettlement, replicas?: number): void {
    let rejected = 0
    for (const e of s.executors) {
      this.#verdicts.labels(e.verdict).inc()
      if (e.verdict === 'rejected') rejected++
    }
    this.#disagreements.inc(rejected)
    if (replicas != null) this.#reissues.inc(Math.max(0, s.executors.length - replicas))
  }

  /** The market reports a job's end once per task that finishes it; two at once both report it. */
  #jobFinished(jobId: string, outcome: string): void {
    if (this.#finishedJobs.has(jobId)) return
    this.#finishedJobs.add(jobId)
    if (this.#finishedJobs.size > MAX_REMEMBERED_JOBS) {
      const oldest = this.#finishedJobs.values().next().value
      if (oldest != null) this.#finishedJobs.delete(oldest)
    }
    this.#jobs.labels(outcome).inc()
  }

  #onMarket(e: MarketEvent): void {
    if (e.type === 'task' && (e.status === 'done' || e.status === 'failed' || e.status === 'cancelled'))
      this.#tasks.labels(e.status).inc()
    else if (e.type === 'job' && e.status !== 'running') this.#jobFinished(e.jobId, e.status)
    else if (e.type === 'bid') this.#bidsReceived.labels(e.decision).inc()
  }
}

/** Total bytes of the blobs in a store (one stat per blob). */
export async function storedBlobBytes(store: Pick<BlobStore, 'list' | 'size'>): Promise<number> {
  let total = 0
  for await (const id of store.list()) {
    // a blob deleted between list and stat counts as gone
    total += await store.size(parseBlobCid(id)).catch(() => 0)
  }
  return total
}
