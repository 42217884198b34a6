import { readFileSync } from 'node:fs'
import { open, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'

export const LOCK_FILE = 'daemon.lock'

export class DaemonLockedError extends Error {
  static name = 'DaemonLockedError'
  constructor(message: string) {
    super(message)
    this.name = 'DaemonLockedError'
  }
}

export interface DaemonLock {
  release(): Promise<void>
}

/** True when `pid` is a live process that looks like a plusone daemon (not a recycled pid). */
function isLiveDaemon(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    return cmdline.includes('plusone')
  } catch {
    return true // no /proc: trust the signal check
  }
}

/**
 * Takes the data directory's daemon lock. A lock held by a live daemon refuses with a clear
 * message; a lock left behind by a killed daemon (its pid is gone) is taken over.
 */
export async function acquireLock(dataDir: string): Promise<DaemonLock> {
  const file = join(dataDir, LOCK_FILE)
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600)
      await fh.writeFile(String(process.pid))
      await fh.close()
      return {
        release: async () => {
          await unlink(file).catch(() => {})
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const pid = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10)
    if (isLiveDaemon(pid)) {
      throw new DaemonLockedError(`another plusone daemon (pid ${pid}) is already running on ${dataDir}`)
    }
    await unlink(file).catch(() => {})
  }
  throw new DaemonLockedError(`could not take the daemon lock ${file}; remove it if no daemon is running`)
}
