import { resolveDataDir } from '../config.js'
import type { MarketEvent } from '../market/index.js'
import { ApiClient } from './client.js'
import { type Command, DATA_DIR_OPTION, parse, UsageError } from './common.js'
import { help } from './node-commands.js'

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
  }
}

export const logsCommand: Command = {
  name: 'logs',
  summary: "follow the daemon's market events: jobs, tasks, bids, executions",
  help: `Usage: plusone logs -f [--json]

Follows the running daemon's events (server-sent events from the control API) and prints
one line each until interrupted.

Options:
  -f, --follow            follow (required: there is no stored log to print)
      --json              print each event as one JSON object per line
      --data-dir D        data directory (default: $PLUSONE_DATA_DIR, else ~/.plusone)
`,
  async run(argv) {
    const { values } = parse('logs', argv, {
      ...DATA_DIR_OPTION,
      follow: { type: 'boolean', short: 'f' },
      json: { type: 'boolean' },
    })
    if (values.help) return help(logsCommand)
    if (values.follow !== true) throw new UsageError('logs: only -f (follow) is supported')
    const client = await ApiClient.connect(resolveDataDir(values['data-dir']))
    const stop = new AbortController()
    process.once('SIGINT', () => stop.abort())
    let res: Response
    try {
      res = await client.request('GET', '/events', undefined, stop.signal)
    } catch (err) {
      if (stop.signal.aborted) return 0
      throw err
    }
    if (res.body == null) return 0
    process.stderr.write("following the daemon's events (Ctrl-C to stop)\n")
    const decoder = new TextDecoder()
    let buffered = ''
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true })
        let end = buffered.indexOf('\n\n')
        while (end !== -1) {
          const frame = buffered.slice(0, end)
          buffered = buffered.slice(end + 2)
          const data = frame
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n')
          if (data !== '') {
            const e = JSON.parse(data) as MarketEvent
            process.stdout.write(
              `${values.json ? JSON.stringify(e) : `${new Date().toISOString().slice(11, 19)} ${describeEvent(e)}`}\n`,
            )
          }
          end = buffered.indexOf('\n\n')
        }
      }
    } catch (err) {
      if (!stop.signal.aborted) throw err
    }
    return 0
  },
}
