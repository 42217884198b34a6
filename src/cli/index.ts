/**
 * The CLI: a thin layer over the typed client (src/client). `init`, `id`, `swarm-key`, `daemon`,
 * `run` and `service` work without a daemon; every other command talks to the running one.
 *
 * Each command's module is imported only when that command runs, so `plusone --help` and the
 * commands that only talk to the daemon never load libp2p or the sandbox.
 */
import { VERSION } from '../version.js'
import { CliError, type Command, UsageError } from './common.js'
import { exitCodeOf } from './client.js'

/** A command as `plusone --help` lists it; `load` imports its implementation. */
export interface CommandEntry {
  name: string
  summary: string
  load(): Promise<Command>
}

export const COMMANDS: CommandEntry[] = [
  {
    name: 'init',
    summary: 'create the data directory with a new identity and a config file',
    load: async () => (await import('./node-commands.js')).initCommand,
  },
  {
    name: 'id',
    summary: "print this node's peer id (and its addresses while the daemon runs)",
    load: async () => (await import('./node-commands.js')).idCommand,
  },
  {
    name: 'swarm-key',
    summary: 'make a new pre-shared key for a private swarm',
    load: async () => (await import('./node-commands.js')).swarmKeyCommand,
  },
  {
    name: 'daemon',
    summary: 'run the plusone node: join the mesh, offer capacity, serve the control API',
    load: async () => (await import('./daemon.js')).daemonCommand,
  },
  {
    name: 'service',
    summary: 'run the daemon at login: install, uninstall or show a systemd user unit (launchd on macOS)',
    load: async () => (await import('./service-command.js')).serviceCommand,
  },
  {
    name: 'peers',
    summary: 'list connected peers with their addresses and latency',
    load: async () => (await import('./node-commands.js')).peersCommand,
  },
  {
    name: 'nodes',
    summary: 'list the capacity records of nodes found through the DHT',
    load: async () => (await import('./node-commands.js')).nodesCommand,
  },
  {
    name: 'doctor',
    summary: 'say whether this node is reachable, which relays it holds, whether UPnP worked',
    load: async () => (await import('./doctor.js')).doctorCommand,
  },
  {
    name: 'submit',
    summary: 'submit a WebAssembly module with one input or a directory of inputs as a job',
    load: async () => (await import('./market-commands.js')).submitCommand,
  },
  {
    name: 'status',
    summary: 'show a task or a job, and why it is waiting if it is',
    load: async () => (await import('./market-commands.js')).statusCommand,
  },
  {
    name: 'result',
    summary: "write a finished task's verified output to a file or stdout",
    load: async () => (await import('./market-commands.js')).resultCommand,
  },
  {
    name: 'tasks',
    summary: 'list the tasks this node submitted',
    load: async () => (await import('./market-commands.js')).tasksCommand,
  },
  {
    name: 'jobs',
    summary: 'list the jobs this node submitted, or remove finished ones with their blobs (jobs rm ID)',
    load: async () => (await import('./market-commands.js')).jobsCommand,
  },
  {
    name: 'cancel',
    summary: 'cancel a job or task: stop announcing and awarding; executors drop the work',
    load: async () => (await import('./market-commands.js')).cancelCommand,
  },
  {
    name: 'ledger',
    summary: "this node's balance, earnings over time and peers by reputation, from signed receipts",
    load: async () => (await import('./ledger-command.js')).ledgerCommand,
  },
  {
    name: 'logs',
    summary: "follow the daemon's market events: jobs, tasks, bids, executions",
    load: async () => (await import('./logs-command.js')).logsCommand,
  },
  {
    name: 'dashboard',
    summary: "open the daemon's live web dashboard in the default browser (or print its URL)",
    load: async () => (await import('./dashboard-command.js')).dashboardCommand,
  },
  {
    name: 'run',
    summary: 'run a WebAssembly task locally in the sandbox, as an executor would (no daemon)',
    load: async () => (await import('./run.js')).runCmd,
  },
  {
    name: 'demo',
    summary: 'run a local 5-node private mesh of real daemons and render a Mandelbrot job on it',
    load: async () => (await import('./demo.js')).demoCommand,
  },
]

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return `plusone ${VERSION}: rent out spare cycles to a peer-to-peer compute mesh, or use it.

Usage: plusone COMMAND [options]    (plusone COMMAND --help for its options)

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Every command takes --data-dir D (default: $PLUSONE_DATA_DIR, else ~/.plusone).
`
}

/** Runs the CLI; returns the exit code. Errors a user can act on are one line on stderr. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name == null || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage())
    return name == null ? 2 : 0
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${VERSION}\n`)
    return 0
  }
  const entry = COMMANDS.find((c) => c.name === name)
  if (entry == null) {
    process.stderr.write(`plusone: unknown command "${name}" (see plusone --help)\n`)
    return 2
  }
  try {
    return await (await entry.load()).run(rest)
  } catch (err) {
    const e = err as Error
    if (e instanceof UsageError) {
      process.stderr.write(`plusone ${e.message}\n`)
      return 2
    }
    process.stderr.write(`plusone ${name}: ${e.message}\n`)
    if (process.env.PLUSONE_DEBUG != null) process.stderr.write(`${e.stack}\n`)
    return e instanceof CliError ? e.exitCode : exitCodeOf(e)
  }
}
