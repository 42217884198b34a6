/**
 * CLI start-up: `plusone --help` and `plusone peers` (against a running daemon with no peers)
 * beside `node -e 0`, the floor every command pays, measured in the same run. With
 * `--compare OTHER/dist/bin/plusone.js` it also runs another build (e.g. main's) side by side.
 *
 *   node dist/bench/cli.js [runs] [--compare PATH]
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { LocalMesh } from '../src/cli/local-mesh.js'

const BIN = fileURLToPath(new URL('../bin/plusone.js', import.meta.url))
const args = process.argv.slice(2)
const compareAt = args.indexOf('--compare')
const other = compareAt === -1 ? undefined : args[compareAt + 1]
const runs = Number(args.find((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--compare') ?? 15)

interface Case {
  name: string
  argv: string[]
}

/** Wall time of one process from spawn to exit, ms; fails loudly if the command failed. */
function once(argv: string[]): number {
  const started = performance.now()
  const r = spawnSync(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  const ms = performance.now() - started
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`)
  return ms
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

const mesh = new LocalMesh(1, () => {}, [], BIN)
await mesh.start()
try {
  const dataDir = mesh.nodes[0].dataDir
  const cases: Case[] = [
    { name: 'node -e 0', argv: ['-e', '0'] },
    { name: 'plusone --help', argv: [BIN, '--help'] },
    { name: 'plusone peers', argv: [BIN, 'peers', '--data-dir', dataDir] },
  ]
  if (other != null) {
    cases.push(
      { name: 'compared --help', argv: [other, '--help'] },
      { name: 'compared peers', argv: [other, 'peers', '--data-dir', dataDir] },
    )
  }
  for (const c of cases) once(c.argv) // warm the file cache
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]))
  // interleaved, so load on the machine hits every case alike
  for (let i = 0; i < runs; i++) for (const c of cases) times.get(c.name)?.push(once(c.argv))
  const floor = median(times.get('node -e 0') ?? [])
  console.log(`CLI start-up, median of ${runs} runs each (wall time, spawn to exit)`)
  for (const c of cases) {
    const m = median(times.get(c.name) ?? [])
    console.log(
      `  ${c.name.padEnd(16)} ${m.toFixed(0).padStart(5)} ms   ${(m / floor).toFixed(2)}× node -e 0`,
    )
  }
} finally {
  await mesh.stop()
}
