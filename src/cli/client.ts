import { resolveDataDir } from '../config.js'
import { connect, type PlusoneClient } from '../client/index.js'

/** The client of the daemon for a command's `--data-dir` (or the default data directory). */
export function daemonClient(dataDirFlag: string | undefined): Promise<PlusoneClient> {
  return connect({ dataDir: resolveDataDir(dataDirFlag) })
}

/** Exit status for an error from the client: 3 for "no such job or task", else 1. */
export function exitCodeOf(err: Error): number {
  if (err.name === 'ApiError' && (err as { status?: number }).status === 404) return 3
  return 1
}
