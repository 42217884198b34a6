import type { NodeJson } from '../api/routes.js'
import { ApiClient } from './client.js'
import { type Command, parse, table } from './common.js'
import { LocalMesh } from './local-mesh.js'
import { help } from './node-commands.js'

const MESH_SIZE = 3
const FIND_ATTEMPTS = 60
const FIND_INTERVAL_MS = 500

export const demoCommand: Command = {
  name: 'demo',
  summary: 'start a local private mesh of real daemons on loopback and show what it offers',
  help: `Usage: plusone demo [--nodes N]

Starts N (default ${MESH_SIZE}) plusone daemons as separate processes on 127.0.0.1, in a
temporary directory, joined in a private swarm with a fresh swarm key. Waits until the
first node finds every node's capacity record through the DHT, prints them (as
"plusone nodes" would), then stops every daemon and removes the directory.
`,
  async run(argv) {
    const { values } = parse('demo', argv, { nodes: { type: 'string' } })
    if (values.help) return help(demoCommand)
    const size = values.nodes == null ? MESH_SIZE : Number(values.nodes)
    if (!Number.isInteger(size) || size < 1 || size > 20) throw new Error('--nodes must be 1 to 20')
    const say = (line: string): void => console.log(line)
    const mesh = new LocalMesh(size, say)
    const interrupted = (): void => {
      say('interrupted: stopping the mesh')
      void mesh.stop().then(() => process.exit(130))
    }
    process.once('SIGINT', interrupted)
    try {
      await mesh.start()
      const client = await ApiClient.connect(mesh.nodes[0].dataDir)
      say(`waiting for node 0 to find ${size} capacity records through the DHT ...`)
      let nodes: NodeJson[] = []
      for (let i = 0; i < FIND_ATTEMPTS && nodes.length < size; i++) {
        nodes = await client.json<NodeJson[]>('GET', '/nodes')
        if (nodes.length < size) await new Promise((r) => setTimeout(r, FIND_INTERVAL_MS))
      }
      say('')
      say(`$ plusone nodes   (on node 0)`)
      say(
        table(
          ['PEER', 'CORES', 'MEMORY', 'PRICE', 'EXPIRES'],
          nodes.map((n) => [
            n.self ? `${n.peerId} (self)` : n.peerId,
            String(n.cores),
            `${n.memoryMB} MiB`,
            `${n.price}/Gfuel`,
            n.expiresAt,
          ]),
        ),
      )
      say('')
      say(nodes.length === size ? `found all ${size} nodes` : `found ${nodes.length} of ${size} nodes`)
      return nodes.length === size ? 0 : 1
    } finally {
      process.removeListener('SIGINT', interrupted)
      say('stopping the mesh ...')
      await mesh.stop()
      say('done: no daemon left running')
    }
  },
}
