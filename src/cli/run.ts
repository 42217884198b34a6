/**
 * `plusone run MODULE.wasm`: runs a task locally, with no daemon, exactly as an executor would,
 * so task authors can test before they submit. The task id (and so the seed) is derived from
 * the module, the input and the limits, so two runs of the same command agree.
 */
import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { DEFAULT_LIMITS, MAX_FUEL, outcomeHash, runTask, type TaskLimits } from '../runtime/index.js'
import { type Command, UsageError } from './common.js'

const HELP = `Usage: plusone run MODULE.wasm [options]

Runs a WebAssembly task locally in the metered sandbox, exactly as an executor would.
The seed it sees is derived from the module, input and limits, so runs are reproducible.

Options:
  -i, --input FILE          task input (default: empty)
      --fuel N              fuel limit, e.g. 5000000 or 10G (default: ${DEFAULT_LIMITS.fuel})
      --memory MB           memory limit in MiB (default: ${DEFAULT_LIMITS.memoryBytes / 1024 / 1024})
      --max-output BYTES    output limit in bytes (default: ${DEFAULT_LIMITS.maxOutputBytes}; never more
                            than the memory limit or 64 MiB)
  -o, --out FILE            write the output to FILE (default: stdout, unless --json)
      --json                print the outcome as JSON (output in base64 under "output")
  -h, --help                show this help

Exit status: 0 when the task's outcome is ok, 1 for any other outcome, 2 for bad usage.
`

const TASK_ID_DOMAIN = 'plusone/local-task/v1\0'
const FUEL_SUFFIXES: Record<string, bigint> = {
  '': 1n,
  k: 1_000n,
  m: 1_000_000n,
  g: 1_000_000_000n,
  t: 1_000_000_000_000n,
}

export function parseFuel(s: string): bigint {
  const m = /^(\d+)([kmgt]?)$/i.exec(s.trim())
  if (!m) throw new UsageError(`--fuel must be a whole number, optionally with k, M, G or T (got "${s}")`)
  const fuel = BigInt(m[1]!) * FUEL_SUFFIXES[m[2]!.toLowerCase()]!
  const max = BigInt(Number.MAX_SAFE_INTEGER) < MAX_FUEL ? BigInt(Number.MAX_SAFE_INTEGER) : MAX_FUEL
  if (fuel < 1n || fuel > max) throw new UsageError(`--fuel must be between 1 and ${max}`)
  return fuel
}

function parsePositive(name: string, s: string, max: number): number {
  const n = Number(s)
  if (!/^\d+(\.\d+)?$/.test(s.trim()) || !Number.isFinite(n) || n < 0 || n > max)
    throw new UsageError(`--${name} must be a number between 0 and ${max} (got "${s}")`)
  return n
}

/** The task id `plusone run` uses: a hash of module, input and limits. */
export function localTaskId(module: Uint8Array, input: Uint8Array, limits: TaskLimits): Uint8Array {
  const nums = new DataView(new ArrayBuffer(24))
  nums.setBigUint64(0, limits.fuel)
  nums.setBigUint64(8, BigInt(limits.memoryBytes))
  nums.setBigUint64(16, BigInt(limits.maxOutputBytes))
  const h = createHash('sha256').update(TASK_ID_DOMAIN)
  h.update(createHash('sha256').update(module).digest())
  h.update(createHash('sha256').update(input).digest())
  h.update(new Uint8Array(nums.buffer))
  return new Uint8Array(h.digest())
}

async function readInputFile(what: string, path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new UsageError(`cannot read ${what} ${path}${code ? ` (${code})` : ''}`)
  }
}

/** Where the command writes; tests pass their own. */
export interface RunIo {
  stdout: { write(chunk: string | Uint8Array): unknown }
  stderr: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean }
}

/** Runs `plusone run` with the arguments after `run`; resolves with the process exit code. */
export async function runCommand(argv: string[], io: RunIo = process): Promise<number> {
  try {
    return await runInner(argv, io)
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err))
    io.stderr.write(`plusone run: ${e.message}\n`)
    return e instanceof UsageError || e.name === 'InvalidLimitsError' ? 2 : 1
  }
}

async function runInner(argv: string[], io: RunIo): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see plusone run --help)`)
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.stdout.write(HELP)
    return 0
  }
  if (positionals.length !== 1)
    throw new UsageError('expected exactly one MODULE.wasm (see plusone run --help)')
  const limits: TaskLimits = {
    fuel: values.fuel === undefined ? DEFAULT_LIMITS.fuel : parseFuel(values.fuel),
    memoryBytes:
      values.memory === undefined
        ? DEFAULT_LIMITS.memoryBytes
        : Math.floor(parsePositive('memory', values.memory, 4096) * 1024 * 1024),
    maxOutputBytes:
      values['max-output'] === undefined
        ? DEFAULT_LIMITS.maxOutputBytes
        : Math.floor(parsePositive('max-output', values['max-output'], 1024 * 1024 * 1024)),
  }
  const module = await readInputFile('module', positionals[0]!)
  const input = values.input === undefined ? new Uint8Array(0) : await readInputFile('input', values.input)
  const taskId = localTaskId(module, input, limits)
  const showProgress = !values.json && io.stderr.isTTY === true
  const outcome = await runTask({
    module,
    input,
    taskId,
    limits,
    onProgress: showProgress ? (p) => io.stderr.write(`\r${(p / 10).toFixed(1)}%`) : undefined,
  })
  if (showProgress) io.stderr.write('\r')
  if (values.out !== undefined) await writeFile(values.out, outcome.output)
  const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex')
  if (values.json) {
    const json = {
      status: outcome.status,
      ...(outcome.code === undefined ? {} : { code: outcome.code }),
      ...(outcome.message === undefined ? {} : { message: outcome.message }),
      fuelUsed: Number(outcome.fuelUsed),
      outputBytes: outcome.output.length,
      outputHash: hexOf(outcome.outputHash),
      outcomeHash: hexOf(outcomeHash(outcome)),
      taskId: hexOf(taskId),
      output: Buffer.from(outcome.output).toString('base64'),
    }
    io.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  } else {
    if (values.out === undefined) io.stdout.write(outcome.output)
    const detail = outcome.status === 'ok' ? '' : ` — ${outcome.message ?? ''}`
    io.stderr.write(
      `${outcome.status}${detail} · fuel ${outcome.fuelUsed.toLocaleString('en-US')} · output ${outcome.output.length} bytes · sha256 ${hexOf(outcome.outputHash).slice(0, 16)}…\n`,
    )
  }
  return outcome.status === 'ok' ? 0 : 1
}

const RUN_OPTIONS = {
  input: { type: 'string', short: 'i' },
  fuel: { type: 'string' },
  memory: { type: 'string' },
  'max-output': { type: 'string' },
  out: { type: 'string', short: 'o' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

export const runCmd: Command = {
  name: 'run',
  summary: 'run a WebAssembly task locally in the sandbox, as an executor would (no daemon)',
  help: HELP,
  options: RUN_OPTIONS,
  run: (argv) => runCommand(argv),
}

function parse(argv: string[]) {
  return parseArgs({ args: argv, allowPositionals: true, strict: true, options: RUN_OPTIONS })
}
