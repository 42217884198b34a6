import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PNG } from 'pngjs'
import { connect, type NodeRecord } from '../client/index.js'
import { CliError, type Command, help, parse, positiveInt, table } from './common.js'
import { LocalMesh } from './local-mesh.js'
import { submitCommand } from './market-commands.js'

const DEFAULT_NODES = 5
const IMAGE_PX = 512
const TILE_PX = 64
const MAX_ITER = 500
const FIND_ATTEMPTS = 60
const FIND_INTERVAL_MS = 250

const MANDELBROT_WASM = fileURLToPath(new URL('../../../examples/build/mandelbrot.wasm', import.meta.url))

/** The task's grey level (escape speed) as a colour: deep blue far out, gold near the set. */
function colour(v: number): [number, number, number, number] {
  if (v === 0) return [0, 0, 0, 255]
  const t = Math.sqrt(1 - v / 255)
  const r = Math.round(9 * (1 - t) * t ** 3 * 255)
  const g = Math.round(15 * (1 - t) ** 2 * t ** 2 * 255)
  const b = Math.round(8.5 * (1 - t) ** 3 * t * 255)
  return [Math.min(255, r + 20), Math.min(255, g + 10), Math.min(255, b + 40), 255]
}

const DEMO_OPTIONS = { nodes: { type: 'string' }, out: { type: 'string' } } as const

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run a local 5-node private mesh of real daemons and render a Mandelbrot job on it',
  help: `Usage: plusone demo [--nodes N] [--out FILE]

In a temporary directory: starts N (default ${DEFAULT_NODES}) plusone daemons as separate
processes on 127.0.0.1, joined in a private swarm with a fresh swarm key; waits until they
find each other's capacity records through the DHT; submits the Mandelbrot example as a
job of ${(IMAGE_PX / TILE_PX) ** 2} tiles at --replicas 3, with a progress bar; assembles the
verified tiles into a PNG (default ./mandelbrot.png); prints how many tasks each node ran;
then stops every daemon and removes the directory.
`,
  options: DEMO_OPTIONS,
  async run(argv) {
    const { values } = parse('demo', argv, DEMO_OPTIONS)
    if (values.help) return help(demoCommand)
    const size = positiveInt('--nodes', values.nodes) ?? DEFAULT_NODES
    if (size < 3 || size > 20) throw new CliError('--nodes must be 3 to 20 (a task needs 3 replicas)')
    const outFile = resolve(values.out ?? 'mandelbrot.png')
    const say = (line: string): void => console.log(line)
    const mesh = new LocalMesh(size, say)
    const interrupted = (): void => {
      say('\ninterrupted: stopping the mesh')
      void mesh.stop().then(() => process.exit(130))
    }
    process.once('SIGINT', interrupted)
    const work = await mkdtemp(join(tmpdir(), 'plusone-demo-job-'))
    try {
      await mesh.start()
      const submitter = mesh.nodes[0]
      const client = await connect({ dataDir: submitter.dataDir })
      say(`waiting for node 0 to find all ${size} capacity records through the DHT ...`)
      let nodes: NodeRecord[] = []
      for (let i = 0; i < FIND_ATTEMPTS && nodes.length < size; i++) {
        nodes = await client.nodes()
        if (nodes.length < size) await new Promise((r) => setTimeout(r, FIND_INTERVAL_MS))
      }
      say(`found ${nodes.length} of ${size} nodes\n`)

      const tiles = IMAGE_PX / TILE_PX
      const inputs = join(work, 'tiles')
      await mkdir(inputs)
      for (let ty = 0; ty < tiles; ty++) {
        for (let tx = 0; tx < tiles; tx++) {
          const spec = `${IMAGE_PX} ${IMAGE_PX} ${tx * TILE_PX} ${ty * TILE_PX} ${TILE_PX} ${TILE_PX} ${MAX_ITER}`
          await writeFile(
            join(inputs, `tile-${String(ty).padStart(2, '0')}-${String(tx).padStart(2, '0')}`),
            spec,
          )
        }
      }
      const outDir = join(work, 'out')
      say(`$ plusone submit mandelbrot.wasm --inputs tiles/ --replicas 3 --wait --out out/   (on node 0)`)
      const code = await submitCommand.run([
        MANDELBROT_WASM,
        '--inputs',
        inputs,
        '--replicas',
        '3',
        '--wait',
        '--out',
        outDir,
        '--data-dir',
        submitter.dataDir,
      ])
      if (code !== 0) throw new CliError('the job did not finish; see the lines above')

      const png = new PNG({ width: IMAGE_PX, height: IMAGE_PX })
      const { readFile } = await import('node:fs/promises')
      for (let ty = 0; ty < tiles; ty++) {
        for (let tx = 0; tx < tiles; tx++) {
          const name = `tile-${String(ty).padStart(2, '0')}-${String(tx).padStart(2, '0')}`
          const grey = await readFile(join(outDir, name))
          if (grey.byteLength !== TILE_PX * TILE_PX)
            throw new CliError(`tile ${name} has ${grey.byteLength} bytes`)
          for (let y = 0; y < TILE_PX; y++) {
            for (let x = 0; x < TILE_PX; x++) {
              const i = ((ty * TILE_PX + y) * IMAGE_PX + tx * TILE_PX + x) * 4
              png.data.set(colour(grey[y * TILE_PX + x]), i)
            }
          }
        }
      }
      await writeFile(outFile, PNG.sync.write(png))
      say(
        `\nwrote ${outFile} (${IMAGE_PX}×${IMAGE_PX}, ${tiles * tiles} tiles, each agreed on by 3 executors)\n`,
      )

      const rows: string[][] = []
      const submitterLedger = await client.ledger()
      const balances = new Map(submitterLedger.peers.map((p) => [p.peerId, p.balance]))
      for (const [i, n] of mesh.nodes.entries()) {
        const node = await connect({ dataDir: n.dataDir })
        const stats = await node.stats()
        const id = (await node.id()).peerId
        const balance = i === 0 ? submitterLedger.balance : (balances.get(id) ?? 0)
        rows.push([`node ${i}${i === 0 ? ' (submitter)' : ''}`, String(stats.executed), String(balance)])
      }
      say(table(['NODE', 'TASKS RUN', 'CREDITS (signed receipts, as node 0 sees them)'], rows))
      return 0
    } finally {
      process.removeListener('SIGINT', interrupted)
      say('\nstopping the mesh ...')
      await mesh.stop()
      await rm(work, { recursive: true, force: true })
      say('done: no daemon left running')
    }
  },
}
