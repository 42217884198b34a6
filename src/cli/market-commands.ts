import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { Job, JobView, TaskView } from '../client/index.js'
import { daemonClient } from './client.js'
import {
  CliError,
  type Command,
  DATA_DIR_HELP,
  DATA_DIR_OPTION,
  help,
  nonNegative,
  parse,
  positiveInt,
  printJson,
  table,
  UsageError,
} from './common.js'

const MAX_INPUT_FILES = 10_000
const JSON_OPTIONS = { ...DATA_DIR_OPTION, json: { type: 'boolean' } } as const

/** "30s", "2m", "500ms", "1h" or plain seconds → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (m == null) throw new UsageError(`--deadline must look like 30s, 2m or 500ms (got "${text}")`)
  const n =
    Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h']
  if (n < 100 || n > 24 * 3_600_000) throw new UsageError('--deadline must be between 100ms and 24h')
  return Math.round(n)
}

async function readInputs(input?: string, inputs?: string): Promise<Array<{ name: string; path: string }>> {
  if ((input == null) === (inputs == null))
    throw new UsageError('submit: give exactly one of --input FILE or --inputs DIR')
  if (input != null) return [{ name: basename(input), path: input }]
  const dir = inputs as string
  let names: string[]
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name)
  } catch (err) {
    throw new CliError(`cannot read --inputs ${dir}: ${(err as Error).message}`)
  }
  if (names.length === 0) throw new CliError(`--inputs ${dir} holds no files`)
  if (names.length > MAX_INPUT_FILES)
    throw new CliError(`--inputs ${dir} holds more than ${MAX_INPUT_FILES} files`)
  return names.sort().map((name) => ({ name, path: join(dir, name) }))
}

async function readBytes(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${(err as Error).message}`)
  }
}

/** Progress on a terminal as one rewritten line; as plain lines otherwise (logs, pipes). */
class Progress {
  private readonly started = Date.now()
  private lastLine = ''
  private lastPlain = 0

  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  update(done: number, failed: number, waiting?: string): void {
    const elapsed = (Date.now() - this.started) / 1000
    const finished = done + failed
    const rate = elapsed > 0 ? finished / elapsed : 0
    const eta = rate > 0 ? Math.ceil((this.total - finished) / rate) : undefined
    const width = 30
    const filled = Math.round((finished / this.total) * width)
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`
    const parts = [
      `${finished}/${this.total}`,
      failed > 0 ? `${failed} failed` : '',
      `${rate.toFixed(1)} tasks/s`,
      eta == null ? '' : `ETA ${eta}s`,
    ].filter((p) => p !== '')
    const line = `${bar} ${parts.join('  ')}${waiting == null ? '' : `  (${waiting})`}`
    if (this.out.isTTY) {
      if (line !== this.lastLine) this.out.write(`\r\x1b[K${line}`)
    } else if (finished !== this.lastPlain || (waiting != null && line !== this.lastLine && finished === 0)) {
      this.out.write(`${parts.join('  ')}${waiting == null ? '' : `  waiting: ${waiting}`}\n`)
      this.lastPlain = finished
    }
    this.lastLine = line
  }

  end(): void {
    if (this.out.isTTY) this.out.write('\n')
  }
}

const SUBMIT_OPTIONS = {
  ...DATA_DIR_OPTION,
  input: { type: 'string', short: 'i' },
  inputs: { type: 'string' },
  replicas: { type: 'string' },
  fuel: { type: 'string' },
  memory: { type: 'string' },
  deadline: { type: 'string' },
  'max-price': { type: 'string' },
  wait: { type: 'boolean' },
  out: { type: 'string' },
  json: { type: 'boolean' },
} as const

export const submitCommand: Command = {
  name: 'submit',
  summary: 'submit a WebAssembly module with one input or a directory of inputs as a job',
  help: `Usage: plusone submit MODULE.wasm (--input FILE | --inputs DIR) [options]

Makes one task per input file and gives them to the mesh. Without --wait it prints the
job id and returns at once; follow it with plusone status JOB.

Options:
  -i, --input FILE        one input file
      --inputs DIR        every file in DIR is one task's input
      --replicas K|auto   independent executors per task; a strict majority must agree (default 3).
                          auto: an executor with 20 verified results in a row gets tasks alone,
                          10% of them spot-checked with 3 replicas: about 1.2 executions per task
                          instead of 3, but a trusted liar's answer is accepted 9 times in 10
      --fuel N            fuel per task, e.g. 500M or 10G (default 10G)
      --memory MB         memory per task, MiB (default 256)
      --deadline D        time an executor has per task, e.g. 30s (default 30s)
      --max-price P       most you pay, credits per Gfuel (default 10)
      --wait              wait for the job, with a progress bar, and write the outputs
      --out DIR           with --wait: write each output to DIR, named after its input
      --json              print {"jobId", "tasks": [{"taskId", "input", "status", "outputHash", "output"}]}
${DATA_DIR_HELP}

Exit status: 0 when every task is done (or, without --wait, submitted); 1 otherwise.
`,
  options: SUBMIT_OPTIONS,
  async run(argv) {
    const { values, positionals } = parse('submit', argv, SUBMIT_OPTIONS, true)
    if (values.help) return help(submitCommand)
    if (positionals.length !== 1)
      throw new UsageError('submit: expected exactly one MODULE.wasm (see plusone submit --help)')
    if (values.out != null && values.wait !== true) throw new UsageError('submit: --out needs --wait')
    const replicas = values.replicas === 'auto' ? 'auto' : positiveInt('--replicas', values.replicas)
    if (replicas === 0) throw new UsageError('--replicas must be at least 1 or auto')
    const files = await readInputs(values.input, values.inputs)
    const maxPrice = nonNegative('--max-price', values['max-price'])
    const fuel = values.fuel == null ? undefined : (await import('./run.js')).parseFuel(values.fuel)
    const memoryMB = positiveInt('--memory', values.memory)
    const deadlineMs = values.deadline == null ? undefined : parseDuration(values.deadline)
    const client = await daemonClient(values['data-dir'])
    const module = await readBytes(positionals[0], 'module')
    const inputs = await Promise.all(
      files.map(async (f) => ({ name: f.name, data: await readBytes(f.path, 'input') })),
    )
    const job = await client.submit({ module, inputs, replicas, fuel, memoryMB, deadlineMs, maxPrice })
    if (values.wait !== true) {
      if (values.json)
        printJson({ jobId: job.jobId, tasks: job.tasks.map((t) => ({ ...t, status: 'waiting' })) })
      else console.log(job.jobId)
      return 0
    }
    const view = await waitForJob(job, values.json !== true || process.stderr.isTTY)
    const outputs = new Map<string, string>()
    if (values.out != null) {
      await mkdir(values.out, { recursive: true })
      for (const t of view.tasks) {
        if (t.status !== 'done') continue
        const path = join(values.out, t.input)
        await writeFile(path, await client.result(t.taskId))
        outputs.set(t.taskId, path)
      }
    }
    if (values.json) {
      printJson({
        jobId: view.jobId,
        status: view.status,
        tasks: view.tasks.map((t) => ({ ...t, output: outputs.get(t.taskId) ?? null })),
      })
    } else {
      const failed = view.tasks.filter((t) => t.status !== 'done')
      console.log(
        `job ${view.jobId}: ${view.status}, ${view.tasks.length - failed.length}/${view.tasks.length} tasks done`,
      )
      if (values.out != null) console.log(`outputs in ${values.out}`)
      for (const t of failed) console.log(`  ${t.input}: ${t.status}`)
    }
    return view.status === 'done' ? 0 : 1
  },
}

/** Follows the job's progress from the daemon's event stream; Ctrl-C stops waiting, not the job. */
async function waitForJob(job: Job, showProgress: boolean): Promise<JobView> {
  const progress = showProgress ? new Progress(job.tasks.length) : undefined
  const interrupted = new AbortController()
  const onSigint = (): void => interrupted.abort()
  process.once('SIGINT', onSigint)
  try {
    for await (const p of job.progress({ signal: interrupted.signal })) {
      progress?.update(p.done, p.failed, p.status === 'running' ? p.waiting : undefined)
    }
    return await job.status({ signal: interrupted.signal })
  } catch (err) {
    if (interrupted.signal.aborted)
      throw new CliError(`stopped waiting; the job goes on: plusone status ${job.jobId}`, 130)
    throw err
  } finally {
    process.removeListener('SIGINT', onSigint)
    progress?.end()
  }
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'show a task or a job, and why it is waiting if it is',
  help: `Usage: plusone status ID [--json]

Shows a job (with its tasks) or a single task. A job's JSON is {"jobId", "status":
"running" | "done" | "failed" | "cancelled", "tasks": [...], "waiting": "why, if it is"}.

Options:
      --json              print JSON
${DATA_DIR_HELP}
`,
  options: JSON_OPTIONS,
  async run(argv) {
    const { values, positionals } = parse('status', argv, JSON_OPTIONS, true)
    if (values.help) return help(statusCommand)
    if (positionals.length !== 1) throw new UsageError('status: expected one job or task id')
    const client = await daemonClient(values['data-dir'])
    const id = positionals[0]
    let view: JobView | TaskView
    try {
      view = await client.job(id)
    } catch (err) {
      if (!notFound(err)) throw err
      view = await client.task(id)
    }
    if (values.json) {
      printJson(view)
      return 0
    }
    if ('tasks' in view) {
      const counts = new Map<string, number>()
      for (const t of view.tasks) counts.set(t.status, (counts.get(t.status) ?? 0) + 1)
      console.log(
        `job ${view.jobId}: ${view.status} (${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')})`,
      )
      if (view.waiting != null) console.log(`waiting: ${view.waiting}`)
      console.log(
        table(
          ['TASK', 'INPUT', 'STATUS', 'OUTPUT HASH'],
          view.tasks.map((t) => [t.taskId, t.input, t.status, t.outputHash ?? '-']),
        ),
      )
    } else {
      console.log(`task ${view.taskId} (job ${view.jobId}, input ${view.input}): ${view.status}`)
      console.log(
        `replicas ${view.replicas}, awarded ${view.awarded}, claims ${view.claims}, bidders ${view.bidders}`,
      )
      if (view.outputHash != null) console.log(`output hash ${view.outputHash}`)
      if (view.reason != null) console.log(`reason: ${view.reason}`)
      if (view.waiting != null) console.log(`waiting: ${view.waiting}`)
    }
    return 0
  },
}

const RESULT_OPTIONS = { ...DATA_DIR_OPTION, out: { type: 'string', short: 'o' } } as const

export const resultCommand: Command = {
  name: 'result',
  summary: "write a finished task's verified output to a file or stdout",
  help: `Usage: plusone result TASK [-o FILE]

Options:
  -o, --out FILE          write the output to FILE (default: stdout)
${DATA_DIR_HELP}
`,
  options: RESULT_OPTIONS,
  async run(argv) {
    const { values, positionals } = parse('result', argv, RESULT_OPTIONS, true)
    if (values.help) return help(resultCommand)
    if (positionals.length !== 1) throw new UsageError('result: expected one task id')
    const client = await daemonClient(values['data-dir'])
    const bytes = await client.result(positionals[0])
    if (values.out != null) await writeFile(values.out, bytes)
    else process.stdout.write(bytes)
    return 0
  },
}

function listCommand(name: 'tasks' | 'jobs'): Command {
  const cmd: Command = {
    name,
    summary: name === 'tasks' ? 'list the tasks this node submitted' : 'list the jobs this node submitted',
    help: `Usage: plusone ${name} [--json]

Options:
      --json              print JSON
${DATA_DIR_HELP}
`,
    options: JSON_OPTIONS,
    async run(argv) {
      const { values } = parse(name, argv, JSON_OPTIONS)
      if (values.help) return help(cmd)
      const client = await daemonClient(values['data-dir'])
      if (name === 'jobs') {
        const jobs = await client.jobs()
        if (values.json) printJson(jobs)
        else if (jobs.length === 0) console.log('no jobs')
        else
          console.log(
            table(
              ['JOB', 'STATUS', 'DONE', 'CREATED'],
              jobs.map((j) => [
                j.jobId,
                j.status,
                `${j.tasks.filter((t) => t.status === 'done').length}/${j.tasks.length}`,
                new Date(j.createdAt).toISOString(),
              ]),
            ),
          )
      } else {
        const tasks = await client.tasks()
        if (values.json) printJson(tasks)
        else if (tasks.length === 0) console.log('no tasks')
        else
          console.log(
            table(
              ['TASK', 'JOB', 'INPUT', 'STATUS'],
              tasks.map((t) => [t.taskId, t.jobId, t.input, t.status]),
            ),
          )
      }
      return 0
    },
  }
  return cmd
}

export const tasksCommand = listCommand('tasks')
const listJobs = listCommand('jobs')

export const jobsCommand: Command = {
  name: 'jobs',
  summary: 'list the jobs this node submitted, or remove finished ones with their blobs (jobs rm ID)',
  help: `Usage: plusone jobs [--json]
       plusone jobs rm ID...

Lists the jobs this node submitted. "jobs rm" removes finished jobs: their records, and every
blob of them (module, inputs, outputs) that nothing else on this node needs. A job with a task
still running or settling is refused: cancel it first (plusone cancel ID). The daemon also
removes finished jobs by itself after --job-retention (default 30 days).

Options:
      --json              print JSON
${DATA_DIR_HELP}
`,
  options: JSON_OPTIONS,
  async run(argv) {
    if (argv[0] !== 'rm') {
      const { values } = parse('jobs', argv, JSON_OPTIONS)
      if (values.help) return help(jobsCommand)
      return listJobs.run(argv)
    }
    const { values, positionals } = parse('jobs rm', argv.slice(1), JSON_OPTIONS, true)
    if (values.help) return help(jobsCommand)
    if (positionals.length === 0) throw new UsageError('jobs rm: expected one or more job ids')
    const client = await daemonClient(values['data-dir'])
    const removed = []
    for (const id of positionals) {
      const r = await client.removeJob(id)
      removed.push(r)
      if (!values.json)
        console.log(`removed job ${r.jobId} (${r.blobs} blob${r.blobs === 1 ? '' : 's'} deleted)`)
    }
    if (values.json) printJson(removed)
    return 0
  },
}

export const cancelCommand: Command = {
  name: 'cancel',
  summary: 'cancel a job or task: stop announcing and awarding; executors drop the work',
  help: `Usage: plusone cancel ID

${DATA_DIR_HELP}
`,
  options: DATA_DIR_OPTION,
  async run(argv) {
    const { values, positionals } = parse('cancel', argv, DATA_DIR_OPTION, true)
    if (values.help) return help(cancelCommand)
    if (positionals.length !== 1) throw new UsageError('cancel: expected one job or task id')
    await (await daemonClient(values['data-dir'])).cancel(positionals[0])
    console.log(`cancelled ${positionals[0]}`)
    return 0
  },
}

function notFound(err: unknown): boolean {
  return (err as Error).name === 'ApiError' && (err as { status?: number }).status === 404
}
