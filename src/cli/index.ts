/**
 * The CLI: a thin layer over the control API. `init`, `id`, `swarm-key`, `daemon` and `run`
 * work without a daemon; every other command talks to the running one.
 */
import { VERSION } from '../version.js'
import { CliError, type Command, UsageError } from './common.js'
import { daemonCommand } from './daemon.js'
import { demoCommand } from './demo.js'
import { ledgerCommand } from './ledger-command.js'
import { logsCommand } from './logs-command.js'
import {
  cancelCommand,
  jobsCommand,
  resultCommand,
  statusCommand,
  submitCommand,
  tasksCommand,
} from './market-commands.js'
import { idCommand, initCommand, nodesCommand, peersCommand, swarmKeyCommand } from './node-commands.js'
import { runCommand } from './run.js'

const runCmd: Command = {
  name: 'run',
  summary: 'run a WebAssembly task locally in the sandbox, as an executor would (no daemon)',
  help: '',
  run: (argv) => runCommand(argv),
}

export const COMMANDS: Command[] = [
  initCommand,
  idCommand,
  swarmKeyCommand,
  daemonCommand,
  peersCommand,
  nodesCommand,
  submitCommand,
  statusCommand,
  resultCommand,
  tasksCommand,
  jobsCommand,
  cancelCommand,
  ledgerCommand,
  logsCommand,
  runCmd,
  demoCommand,
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
    console.log(VERSION)
    return 0
  }
  const cmd = COMMANDS.find((c) => c.name === name)
  if (cmd == null) {
    process.stderr.write(`plusone: unknown command "${name}" (see plusone --help)\n`)
    return 2
  }
  try {
    return await cmd.run(rest)
  } catch (err) {
    const e = err as Error
    if (e instanceof UsageError) {
      process.stderr.write(`plusone ${e.message}\n`)
      return 2
    }
    process.stderr.write(`plusone ${name}: ${e.message}\n`)
    if (process.env.PLUSONE_DEBUG != null) process.stderr.write(`${e.stack}\n`)
    return e instanceof CliError ? e.exitCode : 1
  }
}
