import { type ParseArgsConfig, parseArgs } from 'node:util'

/** A mistake in how a command was called: printed as one line, exit code 2. */
export class UsageError extends Error {
  static name = 'UsageError'
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** Any other failure the user can act on: printed as one line, exit code 1. */
export class CliError extends Error {
  static name = 'CliError'
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

export interface Command {
  name: string
  /** One line for `plusone --help` (the registry in index.ts shows it without loading the command). */
  summary: string
  /** The full `plusone NAME --help` text. */
  help: string
  /** The options it parses; a test checks that `help` names every one of them. */
  options?: NonNullable<ParseArgsConfig['options']>
  run(argv: string[]): Promise<number>
}

export const DATA_DIR_OPTION = { 'data-dir': { type: 'string' } } as const

/** parseArgs with errors turned into UsageError naming the command. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    })
  } catch (err) {
    throw new UsageError(`${command}: ${(err as Error).message.replace(/\. To specify a positional.*$/, '')}`)
  }
}

export function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value == null) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${name} must be a whole number, got "${value}"`)
  return n
}

export function nonNegative(name: string, value: string | undefined): number | undefined {
  if (value == null) return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${name} must be a number ≥ 0, got "${value}"`)
  return n
}

/** Formats rows as aligned columns for people; --json output never goes through here. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

/** Prints a command's help; the exit code of `plusone NAME --help`. */
export function help(cmd: Command): number {
  process.stdout.write(cmd.help)
  return 0
}

export const DATA_DIR_HELP =
  '      --data-dir D        data directory (default: $PLUSONE_DATA_DIR, else ~/.plusone)'
