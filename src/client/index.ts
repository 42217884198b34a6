/**
 * The plusone client: a program's way onto the mesh through a running daemon's control API.
 * It is the package's main export and loads neither libp2p nor the sandbox.
 *
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises'
 * import { connect } from 'plusone'
 *
 * const client = await connect()                   // the daemon of ~/.plusone (or $PLUSONE_DATA_DIR)
 * const job = await client.submit({
 *   module: await readFile('primes.wasm'),
 *   inputs: [{ name: 'a.txt', data: new TextEncoder().encode('0 100000') }],
 *   replicas: 3,
 * })
 * for await (const p of job.progress()) console.log(`${p.done}/${p.total}`)
 * const res = await job.result()                   // { jobId, status, tasks: [{ taskId, input, status, output }] }
 * ```
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { API_FILE, resolveDataDir } from '../config.js'
import { type ClientInit, PlusoneClient } from './client.js'
import { ApiInfoError, DaemonNotRunningError } from './errors.js'

export {
  DEFAULT_TIMEOUT_MS,
  Job,
  type JobProgress,
  type JobResult,
  PlusoneClient,
  type SubmitRequest,
} from './client.js'
export {
  ApiError,
  ApiInfoError,
  DaemonNotRunningError,
  DaemonTimeoutError,
  DaemonUnreachableError,
} from './errors.js'
export type { ApiResponse, RequestOptions } from './transport.js'
export type * from './types.js'

export interface ConnectOptions {
  /** The daemon's data directory, whose api.json names its address and token. @default $PLUSONE_DATA_DIR, else ~/.plusone */
  dataDir?: string
  /** The API's base URL (e.g. http://127.0.0.1:4567); with `token`, instead of a data directory. */
  url?: string
  /** The bearer token, with `url`. */
  token?: string
  /** How long a call waits for the daemon to start answering. @default 10_000 */
  timeoutMs?: number
}

/** What `<dataDir>/api.json` holds while a daemon runs. */
export interface ApiInfo {
  url: string
  token: string
  pid?: number
}

/**
 * Reads `<dataDir>/api.json`: undefined when there is none (no daemon runs for that directory);
 * ApiInfoError when it is there but unusable.
 */
export async function readApiInfo(dataDir: string): Promise<ApiInfo | undefined> {
  const file = join(dataDir, API_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ApiInfoError(`cannot read ${file}: ${(err as Error).message}`)
  }
  let v: Partial<ApiInfo>
  try {
    v = JSON.parse(text) as Partial<ApiInfo>
  } catch {
    throw new ApiInfoError(`${file} is not valid JSON; a running daemon rewrites it when it starts`)
  }
  if (typeof v?.url !== 'string' || typeof v.token !== 'string')
    throw new ApiInfoError(`${file} has no "url" and "token"; a running daemon rewrites it when it starts`)
  return { url: v.url, token: v.token, pid: typeof v.pid === 'number' ? v.pid : undefined }
}

/**
 * A client of a running daemon: the one whose data directory is given (or the default one), or
 * the one at `url` with `token`. Throws DaemonNotRunningError when the data directory has no
 * api.json; a daemon that is gone or hung is reported by the first call.
 */
export async function connect(options: ConnectOptions = {}): Promise<PlusoneClient> {
  if (options.url != null) {
    if (options.token == null) throw new TypeError('connect: a url needs its token')
    return new PlusoneClient({ url: options.url, token: options.token, timeoutMs: options.timeoutMs })
  }
  const dataDir = resolveDataDir(options.dataDir)
  const info = await readApiInfo(dataDir)
  if (info == null) throw new DaemonNotRunningError(dataDir)
  const init: ClientInit = { ...info, source: join(dataDir, API_FILE), timeoutMs: options.timeoutMs }
  return new PlusoneClient(init)
}
