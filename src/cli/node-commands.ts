import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readApiInfo } from '../client/index.js'
import { CONFIG_FILE, defaultConfig, readConfig, resolveDataDir, writeConfig } from '../config.js'
import { daemonClient } from './client.js'
import { type Command, DATA_DIR_OPTION, help, parse, printJson, table } from './common.js'

// node/index.js loads libp2p: only the commands that need an identity import it, when they run
const identity = () => import('../node/index.js')
const JSON_OPTIONS = { ...DATA_DIR_OPTION, json: { type: 'boolean' } } as const

const DATA_DIR_HELP = `      --data-dir D   data directory (default: $PLUSONE_DATA_DIR, else ~/.plusone)`

export const initCommand: Command = {
  name: 'init',
  summary: 'create the data directory with a new identity and a config file',
  help: `Usage: plusone init [--data-dir D]

Creates the data directory with an Ed25519 identity (identity.key, mode 0600) and a
config file (config.json). Running it again keeps the existing identity and config.

Options:
${DATA_DIR_HELP}
`,
  options: DATA_DIR_OPTION,
  async run(argv) {
    const { values } = parse('init', argv, DATA_DIR_OPTION)
    if (values.help) return help(initCommand)
    const dataDir = resolveDataDir(values['data-dir'])
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    const { key, created } = await (await identity()).loadOrCreateIdentity(dataDir)
    let configNote = 'kept'
    try {
      await readConfig(dataDir)
    } catch (err) {
      if (!(err as Error).message.startsWith('no config')) throw err
      await writeConfig(dataDir, defaultConfig())
      configNote = 'created'
    }
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    console.log(`data directory ${dataDir}`)
    console.log(`identity ${created ? 'created' : 'kept'}: ${peerIdFromPrivateKey(key).toString()}`)
    console.log(`config ${configNote}: ${join(dataDir, CONFIG_FILE)}`)
    return 0
  },
}

export const idCommand: Command = {
  name: 'id',
  summary: "print this node's peer id (and its addresses while the daemon runs)",
  help: `Usage: plusone id [--json] [--data-dir D]

Prints the peer id from the identity file; works with the daemon stopped. While the
daemon runs it also prints whether others can dial this node (reachability: public when a
peer dialled back one of its addresses, private when none could, unknown until a peer
answered) and the addresses it advertises, as /ip4/.../tcp/.../p2p/<id>; behind a home
router these are relay addresses (.../p2p/<relay>/p2p-circuit/p2p/<id>). Loopback and
addresses nobody could dial are not advertised. See also: plusone doctor.

Options:
      --json         print {"peerId", "addresses": [...], "reachability"}
${DATA_DIR_HELP}
`,
  options: JSON_OPTIONS,
  async run(argv) {
    const { values } = parse('id', argv, JSON_OPTIONS)
    if (values.help) return help(idCommand)
    const dataDir = resolveDataDir(values['data-dir'])
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const peerId = peerIdFromPrivateKey(await (await identity()).readIdentity(dataDir)).toString()
    let addresses: string[] = []
    let reachability: string | undefined
    if ((await readApiInfo(dataDir).catch(() => undefined)) != null) {
      try {
        const info = await (await daemonClient(dataDir)).id()
        addresses = info.addresses.map((a) => (a.endsWith(`/p2p/${peerId}`) ? a : `${a}/p2p/${peerId}`))
        reachability = info.reachability
      } catch {
        // the daemon is not running: the peer id alone is still the answer
      }
    }
    if (values.json) printJson({ peerId, addresses, ...(reachability == null ? {} : { reachability }) })
    else {
      console.log(peerId)
      if (reachability != null) console.log(`reachability: ${reachability}`)
      for (const a of addresses) console.log(a)
    }
    return 0
  },
}

const SWARM_KEY_OPTIONS = { output: { type: 'string', short: 'o' } } as const

export const swarmKeyCommand: Command = {
  name: 'swarm-key',
  summary: 'make a new pre-shared key for a private swarm',
  help: `Usage: plusone swarm-key -o swarm.key
       plusone swarm-key > swarm.key

Makes a new 256-bit pre-shared key in the standard libp2p swarm-key format. Give the
same file to every member: plusone daemon --swarm-key swarm.key. Peers without it
cannot connect at all. Whoever can read the file can join the swarm: -o writes it with
mode 0600 (owner only) and never overwrites a file; the daemon refuses a key file that
group or others can read. When redirecting instead, chmod 600 the file.

Options:
  -o, --output FILE  write the key to FILE (mode 0600) instead of printing it
`,
  options: SWARM_KEY_OPTIONS,
  async run(argv) {
    const { values } = parse('swarm-key', argv, SWARM_KEY_OPTIONS)
    if (values.help) return help(swarmKeyCommand)
    if (typeof values.output === 'string') {
      await (await identity()).writeSwarmKeyFile(values.output)
      process.stderr.write(`wrote ${values.output} (mode 0600)\n`)
      return 0
    }
    process.stdout.write(`${new TextDecoder().decode((await identity()).newSwarmKey())}\n`)
    return 0
  },
}

export const peersCommand: Command = {
  name: 'peers',
  summary: 'list connected peers with their addresses and latency',
  help: `Usage: plusone peers [--json] [--data-dir D]

Lists the peers this daemon is connected to and how: direct, relayed (through which
relay; a home behind NAT is reached this way) or webrtc. JSON: [{"peerId", "addresses",
"latencyMs", "connections": [{"kind", "via", "direction", "address", "limited"}]}].

Options:
      --json         print JSON
${DATA_DIR_HELP}
`,
  options: JSON_OPTIONS,
  async run(argv) {
    const { values } = parse('peers', argv, JSON_OPTIONS)
    if (values.help) return help(peersCommand)
    const peers = await (await daemonClient(values['data-dir'])).peers()
    if (values.json) printJson(peers)
    else if (peers.length === 0) console.log('no peers connected')
    else
      console.log(
        table(
          ['PEER', 'LATENCY', 'CONNECTION', 'ADDRESS'],
          peers.map((p) => [
            p.peerId,
            p.latencyMs == null ? '-' : `${p.latencyMs} ms`,
            p.connections.map((c) => (c.via == null ? c.kind : `relayed via ${c.via}`)).join(', '),
            p.addresses.join(' '),
          ]),
        ),
      )
    return 0
  },
}

export const nodesCommand: Command = {
  name: 'nodes',
  summary: 'list the capacity records of nodes found through the DHT',
  help: `Usage: plusone nodes [--json] [--data-dir D]

Finds executors through the DHT (providers of the runtime capability, plus connected
peers) and prints each one's signed capacity record: cores, memory, price and expiry.
RELAY yes marks nodes that relay for homes behind NAT.
JSON: [{"peerId", "cores", "memoryMB", "price", "maxTasks", "features", "expiresAt", "self",
"relay"}].

Options:
      --json         print JSON
${DATA_DIR_HELP}
`,
  options: JSON_OPTIONS,
  async run(argv) {
    const { values } = parse('nodes', argv, JSON_OPTIONS)
    if (values.help) return help(nodesCommand)
    const nodes = await (await daemonClient(values['data-dir'])).nodes()
    if (values.json) printJson(nodes)
    else if (nodes.length === 0) console.log('no capacity records found yet (the DHT may still be forming)')
    else
      console.log(
        table(
          ['PEER', 'CORES', 'MEMORY', 'PRICE', 'RELAY', 'EXPIRES'],
          nodes.map((n) => [
            n.self ? `${n.peerId} (self)` : n.peerId,
            String(n.cores),
            `${n.memoryMB} MiB`,
            `${n.price}/Gfuel`,
            n.relay ? 'yes' : '-',
            n.expiresAt,
          ]),
        ),
      )
    return 0
  },
}

/** Writes a file readable only by its owner, atomically. */
export async function writePrivateFile(path: string, content: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, content, { mode: 0o600 })
  const { rename } = await import('node:fs/promises')
  await rename(tmp, path)
}
