import { randomBytes } from 'node:crypto'
import { unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { ApiServer } from '../api/server.js'
import { webHandler } from '../api/web.js'
import { ledgerRoutes } from '../api/ledger-routes.js'
import { marketRoutes } from '../api/market-routes.js'
import { nodeRoutes } from '../api/routes.js'
import {
  API_FILE,
  type Config,
  parseDuration,
  parseSize,
  readConfig,
  resolveDataDir,
  validateConfig,
} from '../config.js'
import { API_TOKEN_FILE } from '../config.js'
import { startDaemon } from '../daemon/index.js'
import {
  acquireLock,
  listeningAddresses,
  RELAY_DATA_LIMIT_BYTES,
  RELAY_DURATION_LIMIT_MS,
  RELAY_MAX_RESERVATIONS,
  RELAY_RESERVATION_TTL_MS,
  readIdentity,
  readSwarmKeyFile,
} from '../node/index.js'
import {
  CliError,
  type Command,
  DATA_DIR_OPTION,
  help,
  nonNegative,
  parse,
  positiveInt,
  UsageError,
} from './common.js'
import { writePrivateFile } from './node-commands.js'

/** SIGINT/SIGTERM stop the daemon within this long, cleanly or not. */
const STOP_DEADLINE_MS = 5_000

const OPTIONS = {
  ...DATA_DIR_OPTION,
  listen: { type: 'string', multiple: true },
  bootstrap: { type: 'string', multiple: true },
  'swarm-key': { type: 'string' },
  'no-mdns': { type: 'boolean' },
  'no-dedupe': { type: 'boolean' },
  api: { type: 'string' },
  cpus: { type: 'string' },
  memory: { type: 'string' },
  price: { type: 'string' },
  'max-tasks': { type: 'string' },
  'idle-only': { type: 'boolean' },
  'credit-limit': { type: 'string' },
  'new-credit': { type: 'string' },
  fault: { type: 'string' },
  relay: { type: 'string' },
  upnp: { type: 'boolean' },
  'no-upnp': { type: 'boolean' },
  'cache-size': { type: 'string' },
  'job-retention': { type: 'string' },
  webrtc: { type: 'string' },
  'ice-server': { type: 'string', multiple: true },
} as const

function sizeFlag(value: string | undefined): string | undefined {
  if (value != null && parseSize(value) === undefined)
    throw new UsageError(`--cache-size must be a size such as 512MiB or 2GiB, got "${value}"`)
  return value
}

function durationFlag(value: string | undefined): string | undefined {
  if (value != null && parseDuration(value) === undefined)
    throw new UsageError(`--job-retention must be a duration such as 30d, 12h or 0 (keep), got "${value}"`)
  return value
}

const FAULTS = ['wrong-output', 'collude', 'silent', 'slow', 'inflate-fuel'] as const

export const daemonCommand: Command = {
  name: 'daemon',
  summary: 'run the plusone node: join the mesh, offer capacity, serve the control API',
  help: `Usage: plusone daemon [options]

Starts the node: libp2p (tcp, noise, yamux, kad-dht on /plusone/kad/1.0.0, gossipsub,
mDNS), publishes this machine's capacity in the DHT and serves the control API on
127.0.0.1 (address and token in <data-dir>/api.json, mode 0600). Flags override
<data-dir>/config.json. Ctrl-C stops it cleanly.

Options:
      --listen MA          libp2p listen multiaddr, repeatable (default /ip4/0.0.0.0/tcp/4101)
      --bootstrap MA       peer to join through (/ip4/../tcp/../p2p/ID), repeatable
      --swarm-key FILE     join only the private swarm of this key (see plusone swarm-key)
      --no-mdns            do not look for peers on the LAN
      --no-dedupe          keep every connection to a peer. By default, when two peers dial
                           each other at once, both keep the same connection and close the
                           other once the requests on it are answered (at most 5 s)
      --api HOST:PORT      control API address (default 127.0.0.1:0, a free port)
      --cpus N             cores offered to tasks (default: cores - 1)
      --memory MB          memory offered to tasks, MiB (default: a quarter of RAM)
      --price P            ask, credits per Gfuel (default 1)
      --max-tasks N        tasks at once (default: --cpus)
      --idle-only          pause bidding while this machine is busy
      --credit-limit C     decline submitters more than C credits in debt (default 100)
      --relay MODE         relay for homes nobody can dial (circuit relay v2): auto (default:
                           once peers confirm they can dial this node), on, off. Limits per
                           relay: ${RELAY_MAX_RESERVATIONS} homes, reservations of ${RELAY_RESERVATION_TTL_MS / 60_000} min (renewed), each
                           relayed connection at most ${RELAY_DATA_LIMIT_BYTES / 2 ** 20} MiB and ${RELAY_DURATION_LIMIT_MS / 60_000} min (then a new
                           one is opened). In a private swarm only members can reserve.
      --upnp, --no-upnp    ask the home router to forward this node's TCP port over UPnP
                           (default on; nothing is asked when it listens on loopback only).
                           The forwarded address is advertised only once a peer dialled it.
      --webrtc MODE        upgrade relayed connections to direct ones by WebRTC (UDP hole
                           punching, signalled through the relay): auto (default: on once an
                           --ice-server is given), on, off. In a private swarm a WebRTC peer
                           must prove it holds the swarm key before anything else runs
      --ice-server URL     STUN/TURN server for WebRTC, repeatable: stun:HOST:PORT or
                           turn:USER:PASSWORD@HOST:PORT. Default none: no third party learns
                           of any connection, but two homes behind NAT need a STUN server
                           they both reach to punch a hole
      --new-credit C       public mesh: debt allowed to a submitter that has earned nothing
                           here yet; it grows by what it earns, up to --credit-limit (default
                           10; in a private swarm members get the whole --credit-limit)
      --cache-size SIZE    largest total size of other peers' blobs kept as an executor
                           (modules, inputs, outputs of their tasks), least recently used
                           out; inputs go when a run ends, outputs once the task is settled
                           (default 1GiB; e.g. 512MiB, 2GiB)
      --job-retention T    remove this node's finished jobs and their blobs after T (default
                           30d; e.g. 12h, 7d; 0 keeps them until plusone jobs rm)
      --fault KIND         TESTING AID: misbehave as an executor, to watch verification work:
                           wrong-output (a wrong answer of its own), collude (the same wrong
                           answer as every other colluder), silent (win awards, never answer),
                           slow (answer after the deadline), inflate-fuel (claim 9e15 fuel
                           for every run, to bill more than it used)
      --data-dir D         data directory (default: $PLUSONE_DATA_DIR, else ~/.plusone)
`,
  options: OPTIONS,
  async run(argv) {
    const { values } = parse('daemon', argv, OPTIONS)
    if (values.help) return help(daemonCommand)
    const dataDir = resolveDataDir(values['data-dir'])
    const file = await readConfig(dataDir)
    const config: Config = validateConfig(
      {
        ...file,
        listen: values.listen ?? file.listen,
        bootstrap: values.bootstrap ?? file.bootstrap,
        swarmKeyFile: values['swarm-key'] ?? file.swarmKeyFile,
        mdns: values['no-mdns'] === true ? false : file.mdns,
        dedupe: values['no-dedupe'] === true ? false : file.dedupe,
        api: values.api ?? file.api,
        cpus: positiveInt('--cpus', values.cpus) ?? file.cpus,
        memoryMB: positiveInt('--memory', values.memory) ?? file.memoryMB,
        price: nonNegative('--price', values.price) ?? file.price,
        maxTasks:
          positiveInt('--max-tasks', values['max-tasks']) ??
          positiveInt('--cpus', values.cpus) ??
          file.maxTasks,
        idleOnly: values['idle-only'] === true || file.idleOnly,
        creditLimit: nonNegative('--credit-limit', values['credit-limit']) ?? file.creditLimit,
        relay: (values.relay as Config['relay'] | undefined) ?? file.relay,
        upnp: values['no-upnp'] === true ? false : values.upnp === true ? true : file.upnp,
        webrtc: (values.webrtc as Config['webrtc'] | undefined) ?? file.webrtc,
        iceServers: values['ice-server'] ?? file.iceServers,
        newCredit: nonNegative('--new-credit', values['new-credit']) ?? file.newCredit,
        cacheSize: sizeFlag(values['cache-size']) ?? file.cacheSize,
        jobRetention: durationFlag(values['job-retention']) ?? file.jobRetention,
      },
      'flags',
    )
    const fault = values.fault
    if (fault != null && !(FAULTS as readonly string[]).includes(fault)) {
      throw new UsageError(`--fault must be one of ${FAULTS.join(', ')}`)
    }
    const privateKey = await readIdentity(dataDir)
    const swarmKey = config.swarmKeyFile == null ? undefined : await readSwarmKeyFile(config.swarmKeyFile)
    const [host, portText] = splitHostPort(config.api)
    const lock = await acquireLock(dataDir)
    const say = (line: string): void => {
      process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`)
    }
    let daemon: Awaited<ReturnType<typeof startDaemon>>
    try {
      daemon = await startDaemon({
        dataDir,
        config,
        privateKey,
        swarmKey,
        log: say,
        fault: fault as (typeof FAULTS)[number] | undefined,
        libp2pMetrics: true,
      })
    } catch (err) {
      await lock.release()
      throw err
    }
    const token = randomBytes(32).toString('hex')
    const api = new ApiServer({
      host,
      port: Number(portText),
      token,
      routes: [
        ...nodeRoutes(daemon),
        ...marketRoutes(daemon.market),
        ...ledgerRoutes(daemon.ledger, daemon.settlement, daemon.node.peerId.toString(), config.creditLimit),
      ],
      other: await webHandler({ metrics: daemon.metrics }),
    })
    let url: string
    try {
      url = await api.start()
    } catch (err) {
      await daemon.stop()
      await lock.release()
      throw new CliError(`cannot serve the control API on ${config.api}: ${(err as Error).message}`)
    }
    const apiFile = join(dataDir, API_FILE)
    await writePrivateFile(apiFile, `${JSON.stringify({ url, token, pid: process.pid }, null, 2)}\n`)
    await writePrivateFile(join(dataDir, API_TOKEN_FILE), token)

    const peerId = daemon.node.peerId.toString()
    say(`plusone daemon ${peerId}`)
    say(swarmKey == null ? 'network: public plusone mesh' : `network: private swarm (${config.swarmKeyFile})`)
    for (const a of listeningAddresses(daemon.node)) say(`listening on ${a.toString()}/p2p/${peerId}`)
    say(`sandbox: ${config.cpus} worker process(es) as ${daemon.runtime.sandbox}`)
    say(`control API ${url} (token in ${apiFile})`)
    if (fault != null) say(`FAULT INJECTION: this node answers tasks with fault "${fault}" (a testing aid)`)

    await new Promise<void>((resolve) => {
      let stopping = false
      const onSignal = (signal: string): void => {
        if (stopping) return
        stopping = true
        say(`${signal}: stopping`)
        const force = setTimeout(() => {
          say('did not stop within 5 s; exiting anyway')
          process.exit(1)
        }, STOP_DEADLINE_MS)
        force.unref()
        void (async () => {
          await api.stop().catch(() => {})
          await daemon.stop().catch(() => {})
          await unlink(apiFile).catch(() => {})
          await lock.release()
          clearTimeout(force)
          resolve()
        })()
      }
      process.once('SIGINT', () => onSignal('SIGINT'))
      process.once('SIGTERM', () => onSignal('SIGTERM'))
    })
    say('stopped')
    return 0
  },
}

function splitHostPort(value: string): [string, string] {
  const i = value.lastIndexOf(':')
  if (i <= 0) throw new UsageError(`--api must be HOST:PORT, got "${value}"`)
  return [value.slice(0, i).replace(/^\[|\]$/g, ''), value.slice(i + 1)]
}
