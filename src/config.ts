/**
 * The one place where settings are merged: defaults < `<dataDir>/config.json` < environment <
 * command-line flags. Everything is validated here so the rest of the code can trust it.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { availableParallelism, homedir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
// dependency-free on purpose: reading a config must not load libp2p
import { parseIceServer } from './ice-servers.js'

export const CONFIG_FILE = 'config.json'
export const API_FILE = 'api.json'
/** The API token alone, for a Prometheus scrape's `authorization.credentials_file`; rewritten at each start. */
export const API_TOKEN_FILE = 'api-token'
/** Default TCP port for the libp2p listener. */
export const DEFAULT_P2P_PORT = 4101

export class ConfigError extends Error {
  static name = 'ConfigError'
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

/** What the operator controls. Prices are credits per Gfuel (10^9 fuel units). */
export interface Config {
  /** libp2p listen multiaddrs. @default ['/ip4/0.0.0.0/tcp/4101'] */
  listen: string[]
  /** Multiaddrs (with /p2p/ ids) of peers to join through. @default [] */
  bootstrap: string[]
  /** Path of a swarm key file; when set the node joins only that private swarm. */
  swarmKeyFile?: string
  /** Find peers on the LAN with mDNS. @default true */
  mdns: boolean
  /**
   * One connection per peer pair: when two peers dial each other at once, both keep the same
   * connection and close the other (`false` keeps every connection). @default true
   */
  dedupe: boolean
  /** Control API address (HOST:PORT); loopback unless the operator says otherwise. @default '127.0.0.1:0' */
  api: string
  /** Cores offered to tasks. @default cores − 1 (at least 1) */
  cpus: number
  /** Memory offered to tasks, MiB. @default a quarter of the machine's memory */
  memoryMB: number
  /** Ask in credits per Gfuel. @default 1 */
  price: number
  /** Concurrent tasks. @default cpus */
  maxTasks: number
  /** Pause bidding while the machine's own load is high. @default false */
  idleOnly: boolean
  /** How far into debt a submitter may go before this node declines its tasks. @default 100 */
  creditLimit: number
  /**
   * Relay for homes nobody can dial: `auto` once dial-back confirms this node is reachable,
   * `on` always, `off` never. @default 'auto'
   */
  relay: 'auto' | 'on' | 'off'
  /**
   * Ask the home router to forward this node's TCP port over UPnP; the forwarded address is
   * advertised only once a peer dialled it there. @default true
   */
  upnp: boolean
  /**
   * WebRTC private-to-private: upgrade relayed connections to hole-punched direct ones. `auto`
   * is on once an ICE server is configured: without one, two homes behind NAT never learn their
   * public UDP addresses and every attempt fails. @default 'auto'
   */
  webrtc: 'auto' | 'on' | 'off'
  /** ICE servers for WebRTC (`stun:host:port`, `turn:user:password@host:port`). @default [] */
  iceServers: string[]
  /**
   * Public mesh: debt allowed to a submitter that has earned nothing here yet (a new identity);
   * it grows by what the submitter earns, up to `creditLimit`. In a private swarm the swarm key
   * admits members and they get the whole `creditLimit`. @default 10
   */
  newCredit: number
  /**
   * Largest total size of other peers' blobs kept as an executor (modules, inputs and outputs of
   * their tasks), least recently used out: `512MiB`, `2GiB`, or bytes. @default '1GiB'
   */
  cacheSize: string
  /**
   * Finished jobs of this node older than this are removed with their blobs: `30d`, `12h`,
   * `90m`, or `0` to keep them until `plusone jobs rm`. @default '30d'
   */
  jobRetention: string
}

export function defaultConfig(): Config {
  const cpus = Math.max(1, availableParallelism() - 1)
  return {
    listen: [`/ip4/0.0.0.0/tcp/${DEFAULT_P2P_PORT}`],
    bootstrap: [],
    mdns: true,
    dedupe: true,
    api: '127.0.0.1:0',
    cpus,
    memoryMB: Math.max(64, Math.floor(totalmem() / 4 / 2 ** 20)),
    price: 1,
    maxTasks: cpus,
    idleOnly: false,
    creditLimit: 100,
    relay: 'auto',
    upnp: true,
    webrtc: 'auto',
    iceServers: [],
    newCredit: 10,
    cacheSize: '1GiB',
    jobRetention: '30d',
  }
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
}

/** `512MiB`, `2GiB`, `1.5g`, `1048576` → bytes (binary units); undefined if it is not a size. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  const unit = m == null ? undefined : SIZE_UNITS[m[2].toLowerCase()]
  if (m == null || unit === undefined) return undefined
  const bytes = Math.floor(Number(m[1]) * unit)
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

const DURATION_UNITS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
}

/** `30d`, `12h`, `90m`, `45s`, `2w`, `0` → milliseconds; undefined if it is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (text.trim() === '0') return 0
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/i.exec(text)
  if (m == null) return undefined
  const ms = Math.round(Number(m[1]) * DURATION_UNITS[m[2].toLowerCase()])
  return Number.isSafeInteger(ms) ? ms : undefined
}

/** The data directory: the flag, else `PLUSONE_DATA_DIR`, else `~/.plusone`. */
export function resolveDataDir(flag?: string): string {
  return resolve(flag ?? process.env.PLUSONE_DATA_DIR ?? join(homedir(), '.plusone'))
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new ConfigError(message)
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string')
}

/** Validates a merged config; throws ConfigError naming the bad field. */
export function validateConfig(c: Config, source: string): Config {
  check(
    isStringArray(c.listen) && c.listen.length > 0,
    `${source}: "listen" must be a non-empty list of multiaddrs`,
  )
  check(isStringArray(c.bootstrap), `${source}: "bootstrap" must be a list of multiaddrs`)
  check(typeof c.mdns === 'boolean', `${source}: "mdns" must be true or false`)
  check(typeof c.dedupe === 'boolean', `${source}: "dedupe" must be true or false`)
  check(
    typeof c.api === 'string' && /^[^:\s]+:\d{1,5}$/.test(c.api),
    `${source}: "api" must be HOST:PORT, e.g. 127.0.0.1:5101`,
  )
  check(
    Number.isInteger(c.cpus) && c.cpus >= 1 && c.cpus <= 1024,
    `${source}: "cpus" must be a whole number ≥ 1`,
  )
  check(Number.isInteger(c.memoryMB) && c.memoryMB >= 16, `${source}: "memoryMB" must be a whole number ≥ 16`)
  check(Number.isFinite(c.price) && c.price >= 0, `${source}: "price" must be a number ≥ 0`)
  check(Number.isInteger(c.maxTasks) && c.maxTasks >= 0, `${source}: "maxTasks" must be a whole number ≥ 0`)
  check(typeof c.idleOnly === 'boolean', `${source}: "idleOnly" must be true or false`)
  check(Number.isFinite(c.creditLimit) && c.creditLimit >= 0, `${source}: "creditLimit" must be a number ≥ 0`)
  check(Number.isFinite(c.newCredit) && c.newCredit >= 0, `${source}: "newCredit" must be a number ≥ 0`)
  check(
    c.relay === 'auto' || c.relay === 'on' || c.relay === 'off',
    `${source}: "relay" must be auto, on or off`,
  )
  check(typeof c.upnp === 'boolean', `${source}: "upnp" must be true or false`)
  check(
    c.webrtc === 'auto' || c.webrtc === 'on' || c.webrtc === 'off',
    `${source}: "webrtc" must be auto, on or off`,
  )
  check(isStringArray(c.iceServers), `${source}: "iceServers" must be a list of stun:/turn: URLs`)
  for (const url of c.iceServers) {
    try {
      parseIceServer(url)
    } catch (err) {
      throw new ConfigError(`${source}: ${(err as Error).message}`)
    }
  }
  check(
    typeof c.cacheSize === 'string' && parseSize(c.cacheSize) !== undefined,
    `${source}: "cacheSize" must be a size such as 512MiB or 2GiB, got ${JSON.stringify(c.cacheSize)}`,
  )
  check(
    typeof c.jobRetention === 'string' && parseDuration(c.jobRetention) !== undefined,
    `${source}: "jobRetention" must be a duration such as 30d, 12h or 0 (keep), got ${JSON.stringify(c.jobRetention)}`,
  )
  check(
    c.swarmKeyFile == null || typeof c.swarmKeyFile === 'string',
    `${source}: "swarmKeyFile" must be a path`,
  )
  return c
}

/** Reads `<dataDir>/config.json` over the defaults; a clear error when it is missing or corrupt. */
export async function readConfig(dataDir: string): Promise<Config> {
  const file = join(dataDir, CONFIG_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError(`no config at ${file}: run "plusone init --data-dir ${dataDir}" first`)
    }
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(
      `${file} is not valid JSON (${(err as Error).message}); fix it, or delete it and run "plusone init" for defaults`,
    )
  }
  if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`${file} must hold a JSON object`)
  }
  const known = new Set(Object.keys(defaultConfig()).concat('swarmKeyFile'))
  for (const k of Object.keys(parsed)) {
    if (!known.has(k)) throw new ConfigError(`${file}: unknown setting "${k}"`)
  }
  return validateConfig({ ...defaultConfig(), ...(parsed as Partial<Config>) }, file)
}

export async function writeConfig(dataDir: string, config: Config): Promise<void> {
  await writeFile(join(dataDir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 })
}

/** Whether the daemon runs WebRTC: `on`, or `auto` with at least one ICE server. */
export function webrtcEnabled(c: Pick<Config, 'webrtc' | 'iceServers'>): boolean {
  return c.webrtc === 'on' || (c.webrtc === 'auto' && c.iceServers.length > 0)
}

/** Converts a credits-per-Gfuel price to the integer micro-credits used on the wire. */
export function toMicroCredits(credits: number): number {
  return Math.round(credits * 1e6)
}
