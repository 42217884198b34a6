/**
 * Builds N in-process plusone daemons on loopback for tests: each with its own temporary data
 * directory, mDNS off, bootstrapped to up to three earlier nodes. Built through `startDaemon`,
 * so tests run the same wiring as `plusone daemon`.
 */
import { setMaxListeners } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type Config, defaultConfig } from '../src/config.js'
import { type Daemon, type DaemonInit, startDaemon } from '../src/daemon/index.js'
import type { Fault } from '../src/market/index.js'

export interface MeshOptions {
  swarmKey?: Uint8Array
  config?: Partial<Config>
  /** Per-node lines a person would read (refused handshakes...). */
  log?: (index: number, line: string) => void
  capacityTtlMs?: number
  /** Testing aid: node i misbehaves as an executor with `faults[i]` (see `plusone daemon --fault`). */
  faults?: ReadonlyArray<Fault | undefined>
  /** Market settings beyond the operator's config, for every node (see DaemonInit.market). */
  market?: DaemonInit['market']
}

export interface Mesh {
  daemons: Daemon[]
  /** Starts one more node; `bootstrapTo` defaults to the first node of the mesh. */
  add(opts?: MeshOptions & { bootstrapTo?: Daemon[] }): Promise<Daemon>
  stop(): Promise<void>
}

function addrOf(d: Daemon): string {
  return d.node.getMultiaddrs()[0].toString()
}

export async function createMesh(n: number, opts: MeshOptions = {}): Promise<Mesh> {
  const daemons: Daemon[] = []
  const dirs: string[] = []
  const add = async (o: MeshOptions & { bootstrapTo?: Daemon[] } = opts): Promise<Daemon> => {
    const dataDir = await mkdtemp(join(tmpdir(), 'plusone-mesh-'))
    dirs.push(dataDir)
    const index = daemons.length
    const peers =
      o.bootstrapTo ?? daemons.filter((_, i) => i === 0 || i === index - 1 || i === Math.floor(index / 2))
    const config: Config = {
      ...defaultConfig(),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      cpus: 1,
      maxTasks: 2,
      memoryMB: 512,
      // these meshes test other things than a new identity's starting credit (test/hostile does)
      newCredit: 1_000,
      ...o.config,
      bootstrap: [...new Set(peers.map(addrOf))],
    }
    const init: DaemonInit = {
      dataDir,
      config,
      privateKey: await generateKeyPair('Ed25519'),
      swarmKey: o.swarmKey,
      log: o.log == null ? undefined : (line) => o.log?.(index, line),
      capacityTtlMs: o.capacityTtlMs,
      fault: o.faults?.[index],
      market: o.market,
    }
    const d = await startDaemon(init)
    daemons.push(d)
    return d
  }
  try {
    for (let i = 0; i < n; i++) await add()
  } catch (err) {
    await Promise.all(daemons.map((d) => d.stop()))
    throw err
  }
  return {
    daemons,
    add,
    stop: async () => {
      await Promise.all(daemons.map((d) => d.stop()))
      await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
    },
  }
}

/**
 * Dials every pair of daemons directly and resolves once each one sees every other subscribed to
 * each of `topics` (event driven, bounded by `timeoutMs`): after this, gossip reaches everyone and
 * a first publish finds its subscribers.
 */
export async function fullyConnect(daemons: Daemon[], topics: string[], timeoutMs = 20_000): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs)
  // one listener per dial and per node
  setMaxListeners(Number.POSITIVE_INFINITY, signal)
  await Promise.all(
    daemons.flatMap((a, i) =>
      daemons.slice(i + 1).map((b) => a.node.dial(b.node.getMultiaddrs()[0], { signal })),
    ),
  )
  const others = daemons.length - 1
  const ready = (d: Daemon): boolean =>
    topics.every((t) => d.node.services.pubsub.getSubscribers(t).length >= others)
  await Promise.all(
    daemons.map(
      (d) =>
        new Promise<void>((resolve, reject) => {
          const pubsub = d.node.services.pubsub
          const check = (): void => {
            if (!ready(d)) return
            done()
            resolve()
          }
          const onAbort = (): void => {
            done()
            reject(new Error(`a node saw too few subscribers within ${timeoutMs} ms`))
          }
          const done = (): void => {
            pubsub.removeEventListener('subscription-change', check)
            signal.removeEventListener('abort', onAbort)
          }
          pubsub.addEventListener('subscription-change', check)
          signal.addEventListener('abort', onAbort, { once: true })
          check()
        }),
    ),
  )
}

/**
 * Polls `check` until it returns a value other than undefined, at most `attempts` times,
 * `intervalMs` apart: for conditions that have no event (a DHT record becoming findable).
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  { attempts = 60, intervalMs = 250 } = {},
): Promise<T> {
  let last: unknown
  for (let i = 0; i < attempts; i++) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  throw new Error(`gave up waiting for ${what} after ${attempts} attempts${last == null ? '' : `: ${last}`}`)
}

/** Resolves when `d` has at least `count` connected peers (event driven, bounded by `timeoutMs`). */
export async function connectedTo(d: Daemon, count: number, timeoutMs = 20_000): Promise<void> {
  if (d.node.getPeers().length >= count) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      d.node.removeEventListener('peer:connect', on)
      reject(new Error(`only ${d.node.getPeers().length} of ${count} peers connected after ${timeoutMs} ms`))
    }, timeoutMs)
    const on = (): void => {
      if (d.node.getPeers().length >= count) {
        clearTimeout(timer)
        d.node.removeEventListener('peer:connect', on)
        resolve()
      }
    }
    d.node.addEventListener('peer:connect', on)
  })
}
