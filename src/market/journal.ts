/**
 * The submitter's journal in the `market` sublevel. Everything is written here before the market
 * acts on it, so a restart can rebuild every unfinished task (quorum events are replayed into a
 * fresh QuorumTask, see verification/quorum.ts's determinism contract).
 *
 * Keys (values are UTF-8 JSON unless noted):
 * - `job:<jobId>`                 JobRecord
 * - `task:<taskId>`               TaskRecord
 * - `ev:<taskId>:<seq, 8 digits>` a QuorumEvent, in the order it was applied
 * - `claim:<taskId>:<peerId>`     the SignedClaim bytes as received (raw)
 * - `run:<peerId>`                adaptive replication: the executor's run of verified results
 * - `award:<taskId>:<peerId>`     AwardRecord: the price an award was made at, so a restarted
 *                                 submitter settles it at the executor's bid, not its max price
 * - `settled:<taskId>`            the task's receipts are all stored (a restart settles the others)
 */
import { GroupCommit, type Sublevel } from '../store/index.js'
import type { QuorumEvent, QuorumInit } from '../verification/index.js'
import type { TaskState } from './types.js'

export interface JobRecord {
  jobId: string
  createdAt: number
  tasks: Array<{ taskId: string; input: string }>
  cancelled?: boolean
}

export interface TaskRecord {
  taskId: string
  jobId: string
  input: string
  /** The encoded TaskSpec, base64. */
  spec: string
  round: number
  status: TaskState
  outputHash?: string
  outputCid?: string
  reason?: string
  createdAt: number
  finishedAt?: number
  /**
   * An `auto` task's replication plan, journaled before its first award (absent until then):
   * the quorum to rebuild on restart, and for a single-replica task its one executor.
   */
  plan?: { quorum: QuorumInit; onlyExecutor?: string; spotCheck: boolean }
}

export interface AwardRecord {
  peer: string
  /** The executor's winning bid, micro-credits per Gfuel. */
  price: number
  /** Remote address the bid came from (for the per-prefix award cap). */
  address?: string
}

const enc = new TextEncoder()
const dec = new TextDecoder()
const json = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v))
const parse = <T>(b: Uint8Array): T => JSON.parse(dec.decode(b)) as T

export class Journal {
  /** Writes from many tasks at once share one level batch (see GroupCommit). */
  private readonly writes: GroupCommit

  constructor(private readonly db: Sublevel) {
    this.writes = new GroupCommit(db)
  }

  private put(key: string, value: Uint8Array): Promise<void> {
    return this.writes.write({ type: 'put', key, value })
  }

  async putJob(job: JobRecord, tasks: TaskRecord[]): Promise<void> {
    await this.writes.write(
      { type: 'put', key: `job:${job.jobId}`, value: json(job) },
      ...tasks.map((t) => ({ type: 'put' as const, key: `task:${t.taskId}`, value: json(t) })),
    )
  }

  async updateJob(job: JobRecord): Promise<void> {
    await this.put(`job:${job.jobId}`, json(job))
  }

  async putTask(task: TaskRecord): Promise<void> {
    await this.put(`task:${task.taskId}`, json(task))
  }

  async appendEvent(taskId: string, seq: number, event: QuorumEvent): Promise<void> {
    await this.put(`ev:${taskId}:${String(seq).padStart(8, '0')}`, json(event))
  }

  async putClaim(taskId: string, peer: string, signed: Uint8Array): Promise<void> {
    await this.put(`claim:${taskId}:${peer}`, signed)
  }

  async putRun(peer: string, run: number): Promise<void> {
    await this.put(`run:${peer}`, json(run))
  }

  /** Every executor's run of verified results (adaptive replication). */
  async runs(): Promise<Map<string, number>> {
    const out = new Map<string, number>()
    for await (const [k, v] of this.db.iterator({ gte: 'run:', lt: 'run;' }))
      out.set(k.slice('run:'.length), parse<number>(v))
    return out
  }

  /** Journal an award's terms; call before the `awarded` event is appended. */
  async putAward(taskId: string, award: AwardRecord): Promise<void> {
    await this.put(`award:${taskId}:${award.peer}`, json(award))
  }

  async awards(taskId: string): Promise<AwardRecord[]> {
    const out: AwardRecord[] = []
    for await (const v of this.db.values({ gte: `award:${taskId}:`, lt: `award:${taskId};` }))
      out.push(parse<AwardRecord>(v))
    return out
  }

  /** The task's receipts are stored: a restart need not settle it again. */
  async markSettled(taskId: string): Promise<void> {
    await this.put(`settled:${taskId}`, json(true))
  }

  async settledTasks(): Promise<Set<string>> {
    const out = new Set<string>()
    for await (const k of this.db.keys({ gte: 'settled:', lt: 'settled;' }))
      out.add(k.slice('settled:'.length))
    return out
  }

  /**
   * Forgets a job and everything journaled about its tasks. The per-task ranges go first and the
   * job, task and settled keys last in one batch: a crash in between leaves a finished, settled
   * job that can be removed again, never a job without its tasks.
   */
  async deleteJob(jobId: string, taskIds: readonly string[]): Promise<void> {
    for (const id of taskIds) {
      for (const prefix of ['ev', 'claim', 'award'])
        await this.db.clear({ gte: `${prefix}:${id}:`, lt: `${prefix}:${id};` })
    }
    await this.db.batch([
      ...taskIds.flatMap((id) => [
        { type: 'del' as const, key: `task:${id}` },
        { type: 'del' as const, key: `settled:${id}` },
      ]),
      { type: 'del' as const, key: `job:${jobId}` },
    ])
  }

  async jobs(): Promise<JobRecord[]> {
    const out: JobRecord[] = []
    for await (const v of this.db.values({ gte: 'job:', lt: 'job;' })) out.push(parse<JobRecord>(v))
    return out
  }

  async tasks(): Promise<TaskRecord[]> {
    const out: TaskRecord[] = []
    for await (const v of this.db.values({ gte: 'task:', lt: 'task;' })) out.push(parse<TaskRecord>(v))
    return out
  }

  async events(taskId: string): Promise<QuorumEvent[]> {
    const out: QuorumEvent[] = []
    for await (const v of this.db.values({ gte: `ev:${taskId}:`, lt: `ev:${taskId};` }))
      out.push(parse<QuorumEvent>(v))
    return out
  }

  async claims(taskId: string): Promise<Array<{ peer: string; signed: Uint8Array }>> {
    const out: Array<{ peer: string; signed: Uint8Array }> = []
    for await (const [k, v] of this.db.iterator({ gte: `claim:${taskId}:`, lt: `claim:${taskId};` })) {
      out.push({ peer: k.slice(`claim:${taskId}:`.length), signed: v })
    }
    return out
  }
}
