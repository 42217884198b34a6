/**
 * Starts the sandbox's child processes (task workers and the module preparer) with as little of
 * the node's as possible. Processes, not threads, so that the pool can always end one with
 * SIGKILL — a thread inside a long engine builtin ignores `Worker.terminate()`.
 *
 * Each child gets:
 * - an empty environment (no `PLUSONE_*`, no tokens, no `NODE_OPTIONS`), its working directory
 *   in the system's temporary directory, stdin and stdout on /dev/null (stderr is kept, bounded,
 *   to explain a crash), and an IPC channel to the pool — its only way out;
 * - Node's permission model (`--experimental-permission`): it may read only the directory holding
 *   the runtime's own scripts; no file writes, no child processes, no worker threads, no addons,
 *   no WASI; `eval` and `new Function` are disabled;
 * - when the daemon runs as root, the `nobody` user and group (uid/gid of /etc/passwd's `nobody`,
 *   else 65534), provided that user can read the scripts and run node; otherwise the daemon's own
 *   user, and {@link SandboxPlan.description} says why;
 * - for task workers, a real stack of {@link WORKER_REAL_STACK_MB} MB (the soft stack limit is
 *   raised by `/bin/sh -c 'ulimit -s … && exec node …'`) and V8's stack limit set below it, so the
 *   rewriter's virtual stack budget, never the machine's stack limit, decides call depth;
 * - for the preparer, a JavaScript heap of {@link PREPARER_HEAP_MB} MiB;
 * - where util-linux's `setpriv` exists (Debian and most Linux distributions), the parent-death
 *   signal SIGKILL — so a child dies with the daemon even if the daemon itself is SIGKILLed — and
 *   `no_new_privs`.
 *
 * The child is the process the pool holds: `exec` keeps the pid, so SIGKILL reaches node itself.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, parse as parsePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { STACK_BUDGET_BYTES } from './meter-support.js'

/** V8's stack limit in a task worker: 8× the rewriter's virtual budget, so V8's limit never decides. */
export const WORKER_STACK_MB = Math.ceil((STACK_BUDGET_BYTES * 8) / (1024 * 1024))
/** The real stack a task worker's main thread may grow to: twice V8's limit, where the hard limit allows. */
export const WORKER_REAL_STACK_MB = 2 * WORKER_STACK_MB
/** The preparer's JavaScript heap: parsing an 8 MiB module needs far less; a hostile one gets no more. */
export const PREPARER_HEAP_MB = 1024
/** Last bytes of a child's stderr kept to explain a crash. */
const STDERR_TAIL_BYTES = 2048

export type SandboxScript = 'worker' | 'prepare-worker'

/** How the children are confined on this machine (decided once per pool). */
export interface SandboxPlan {
  /** The user the children run as; undefined when they run as the daemon's own user. */
  uid?: number
  gid?: number
  /** Node's permission model is on (off only when running from TypeScript sources under tsx). */
  permissionModel: boolean
  /** The directory the children may read. */
  scriptDir: string
  /** `setpriv` (parent-death signal, no_new_privs), when installed. */
  setpriv?: string
  /** Task workers' stack: the real (soft rlimit) size and V8's limit below it, in KiB. */
  stack: { realKb: number; v8Kb: number }
  /** One line for the daemon's log. */
  description: string
}

const fromSources = import.meta.url.endsWith('.ts')

export function planSandbox(): SandboxPlan {
  const scriptDir = dirname(fileURLToPath(import.meta.url))
  const permissionModel = !fromSources
  let perms = permissionModel
    ? 'Node permission model (read only its own scripts; no writes, processes or threads)'
    : 'no permission model (running from sources)'
  const stack = stackPlan()
  const setpriv = SETPRIV_PATHS.find((p) => executable(p))
  if (setpriv) perms += ', killed with the daemon'
  const user = unprivilegedUser()
  if (user && permissionModel && reachableByOthers(scriptDir, process.execPath))
    return {
      ...user,
      permissionModel,
      scriptDir,
      setpriv,
      stack,
      description: `user ${user.name} (uid ${user.uid}), ${perms}`,
    }
  const why = user && permissionModel ? ` (${user.name} cannot read ${scriptDir})` : ''
  return { permissionModel, scriptDir, setpriv, stack, description: `the daemon's own user${why}, ${perms}` }
}

/**
 * The stack a task worker gets: {@link WORKER_REAL_STACK_MB} when the hard limit allows raising
 * the soft limit that far (an unprivileged process may), else the hard limit; V8's limit is half
 * the real stack, minus a margin V8 needs for itself.
 */
function stackPlan(): { realKb: number; v8Kb: number } {
  let hardKb = Number.POSITIVE_INFINITY
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max stack size'))
    const hard = line?.trim().split(/\s+/)[4]
    if (hard && hard !== 'unlimited') hardKb = Math.floor(Number(hard) / 1024)
  } catch {}
  const realKb = Math.min(WORKER_REAL_STACK_MB * 1024, hardKb)
  return { realKb, v8Kb: Math.floor(realKb / 2) - 256 }
}

export interface SandboxedChild {
  child: ChildProcess
  /** Resolves once the process has exited (and been reaped). */
  exited: Promise<void>
  /** Sends SIGKILL unless the process has already exited; resolves once it has. Idempotent. */
  kill(): Promise<void>
  /** The last bytes the child wrote to stderr, for an error message. */
  stderrTail(): string
  /** CPU time the process has used so far (user + system), from /proc; undefined elsewhere. */
  cpuMs(): number | undefined
}

/** Spawns one sandboxed child running `script` with an IPC channel (advanced serialization). */
export function spawnSandboxed(
  plan: SandboxPlan,
  script: SandboxScript,
  args: string[] = [],
): SandboxedChild {
  const ext = fromSources ? 'ts' : 'js'
  const entry = fileURLToPath(new URL(`./${script}.${ext}`, import.meta.url))
  const node: string[] = ['--no-warnings', '--disallow-code-generation-from-strings']
  if (plan.permissionModel) node.push('--experimental-permission', `--allow-fs-read=${plan.scriptDir}/*`)
  if (fromSources) node.push('--import', import.meta.resolve('tsx'))
  if (script === 'worker') node.push(`--stack-size=${plan.stack.v8Kb}`)
  else node.push(`--max-old-space-size=${PREPARER_HEAP_MB}`)
  let argv = [process.execPath, ...node, entry, ...args]
  if (plan.setpriv) argv = [plan.setpriv, '--pdeathsig', 'KILL', '--no-new-privs', '--', ...argv]
  if (script === 'worker')
    argv = ['/bin/sh', '-c', `ulimit -s ${plan.stack.realKb} && exec "$0" "$@"`, ...argv]
  const child = spawn(argv[0]!, argv.slice(1), {
    env: {},
    cwd: tmpdir(),
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'advanced',
    uid: plan.uid,
    gid: plan.gid,
  })
  let tail = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (d: string) => {
    tail = (tail + d).slice(-STDERR_TAIL_BYTES)
  })
  child.on('error', () => {}) // a failed spawn also emits 'exit', which the owner handles
  let gone = false
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      gone = true
      resolve()
    }),
  )
  return {
    child,
    exited,
    kill: () => {
      if (!gone) child.kill('SIGKILL')
      return exited
    },
    stderrTail: () => tail.trim(),
    cpuMs: () => cpuMsOf(child.pid),
  }
}

/** Linux reports CPU time in clock ticks of 1/100 s (USER_HZ) on every architecture Node runs on. */
const MS_PER_TICK = 10

function cpuMsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK
  } catch {
    return undefined
  }
}

const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv']

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

function unprivilegedUser(): { uid: number; gid: number; name: string } | undefined {
  if (process.getuid?.() !== 0) return undefined
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , uid, gid] = line.split(':')
      if (name === 'nobody' && uid && gid) return { uid: Number(uid), gid: Number(gid), name }
    }
  } catch {}
  return { uid: 65534, gid: 65534, name: 'nobody' }
}

/**
 * Whether a user who is neither owner nor group member can read `dir`'s files and run `exe`:
 * every ancestor searchable by others, `dir` readable, `exe` executable by others.
 */
function reachableByOthers(dir: string, exe: string): boolean {
  try {
    accessSync('/bin/sh', constants.X_OK)
    const searchable = (p: string): boolean => {
      const root = parsePath(p).root
      for (let d = p; ; d = dirname(d)) {
        if ((statSync(d).mode & 0o001) === 0) return false
        if (d === root) return true
      }
    }
    const readable = (p: string): boolean => (statSync(p).mode & 0o004) !== 0
    return (
      searchable(dir) &&
      readable(dir) &&
      readdirSync(dir)
        .filter((f) => f.endsWith('.js'))
        .every((f) => readable(join(dir, f))) &&
      searchable(dirname(exe)) &&
      (statSync(exe).mode & 0o001) !== 0
    )
  } catch {
    return false
  }
}
