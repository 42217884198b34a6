import type { MarketEvent } from '../client/index.js'
import { daemonClient } from './client.js'
import { type Command, DATA_DIR_OPTION, help, parse, UsageError } from './common.js'

const OPTIONS = {
  ...DATA_DIR_OPTION,
  follow: { type: 'boolean', short: 'f' },
  json: { type: 'boolean' },
} as const

/** One line a person reads for a market event. */
export function describeEvent(e: MarketEvent): string {
  switch (e.type) {
    case 'job':
      return `job ${e.jobId}: ${e.status} (${e.done} done, ${e.failed} failed of ${e.total})`
    case 'task':
      return `task ${e.taskId}: ${e.status}${e.reason == null ? '' : ` (${e.reason})`}`
    case 'stuck':
      return `task ${e.taskId} waiting: ${e.waiting}`
    case 'announcement':
      return `announcement ${e.accepted ? 'accepted' : 'ignored'}${e.taskId == null ? '' : ` ${e.taskId}`}${e.reason == null ? '' : `: ${e.reason}`}`
    case 'bid':
      return `bid from ${e.peer} on ${e.taskId}: ${e.decision}${e.reason == null ? '' : ` (${e.reason})`}`
    case 'executed':
      return `ran ${e.taskId}: ${e.status}`
    case 'dropped':
      return `dropped ${e.taskId}: ${e.reason}`
    case 'removed':
      return `job ${e.jobId} removed with its blobs`
  }
}

export const logsCommand: Command = {
  name: 'logs',
  summary: "follow the daemon's market events: jobs, tasks, bids, executions",
  help: `Usage: plusone logs -f [--json]

Follows the running daemon's events (server-sent events from the control API) and prints
one line each until interrupted or the daemon stops.

Options:
  -f, --follow            follow (required: there is no stored log to print)
      --json              print each event as one JSON object per line
      --data-dir D        data directory (default: $PLUSONE_DATA_DIR, else ~/.plusone)
`,
  options: OPTIONS,
  async run(argv) {
    const { values } = parse('logs', argv, OPTIONS)
    if (values.help) return help(logsCommand)
    if (values.follow !== true) throw new UsageError('logs: only -f (follow) is supported')
    const client = await daemonClient(values['data-dir'])
    const stop = new AbortController()
    const onSigint = (): void => stop.abort()
    process.once('SIGINT', onSigint)
    try {
      const events = await client.subscribe({ signal: stop.signal })
      process.stderr.write("following the daemon's events (Ctrl-C to stop)\n")
      for await (const e of events) {
        process.stdout.write(
          `${values.json ? JSON.stringify(e) : `${new Date().toISOString().slice(11, 19)} ${describeEvent(e)}`}\n`,
        )
      }
    } catch (err) {
      if (!stop.signal.aborted) throw err
    } finally {
      process.removeListener('SIGINT', onSigint)
    }
    return 0
  },
}
