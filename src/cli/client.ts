import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { API_FILE } from '../config.js'
import { CliError } from './common.js'

export interface ApiInfo {
  url: string
  token: string
  pid?: number
}

/** Reads `<dataDir>/api.json`; undefined when no daemon has written one. */
export async function readApiInfo(dataDir: string): Promise<ApiInfo | undefined> {
  let text: string
  try {
    text = await readFile(join(dataDir, API_FILE), 'utf8')
  } catch {
    return undefined
  }
  try {
    const v = JSON.parse(text) as ApiInfo
    if (typeof v.url === 'string' && typeof v.token === 'string') return v
  } catch {}
  return undefined
}

function notRunning(dataDir: string): CliError {
  return new CliError(
    `no plusone daemon is running for ${dataDir} (start one with: plusone daemon --data-dir ${dataDir})`,
  )
}

/** Talks to the running daemon's control API; every failure becomes one readable line. */
export class ApiClient {
  private constructor(
    private readonly info: ApiInfo,
    private readonly dataDir: string,
  ) {}

  static async connect(dataDir: string): Promise<ApiClient> {
    const info = await readApiInfo(dataDir)
    if (info == null) throw notRunning(dataDir)
    return new ApiClient(info, dataDir)
  }

  async request(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    let res: Response
    try {
      res = await fetch(`${this.info.url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.info.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      })
    } catch (err) {
      if (signal?.aborted === true) throw err
      throw notRunning(this.dataDir)
    }
    if (!res.ok) {
      let message = `${res.status} ${res.statusText}`
      try {
        const j = (await res.json()) as { error?: string }
        if (j.error != null) message = j.error
      } catch {}
      throw new CliError(message, res.status === 404 ? 3 : 1)
    }
    return res
  }

  async json<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return (await (await this.request(method, path, body, signal)).json()) as T
  }
}
