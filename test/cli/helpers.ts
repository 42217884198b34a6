import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The compiled CLI entry, as `npx plusone` runs it. */
export const BIN = fileURLToPath(new URL('../../bin/plusone.js', import.meta.url))

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs one CLI command to completion (bounded by `timeoutMs`). */
export function cli(args: string[], { timeoutMs = 60_000, env = {} } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

export interface DaemonProcess {
  child: ChildProcess
  output: () => string
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * Starts `plusone daemon ARGS` and resolves once it serves its control API. `wrap` is a command
 * prefix that execs the daemon (e.g. `ip netns exec NS`), so the child is still the daemon.
 */
export function daemon(
  args: string[],
  { timeoutMs = 30_000, wrap = [] as string[] } = {},
): Promise<DaemonProcess> {
  const argv = [...wrap, process.execPath, BIN, 'daemon', ...args]
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const proc: DaemonProcess = {
    child,
    output: () => out,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode == null && child.signalCode == null) child.kill(signal)
      return exited
    },
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`daemon did not start within ${timeoutMs} ms:\n${out}`))
    }, timeoutMs)
    const onData = (d: Buffer): void => {
      out += d
      if (out.includes('control API')) {
        clearTimeout(timer)
        resolve(proc)
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`daemon exited with ${code} before it started:\n${out}`))
    })
  })
}

/** Calls `check` up to `attempts` times, `intervalMs` apart, until it returns a value. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  attempts = 40,
  intervalMs = 250,
) {
  for (let i = 0; i < attempts; i++) {
    const v = await check()
    if (v !== undefined) return v
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  throw new Error(`gave up waiting for ${what}`)
}
