/**
 * Baseline and ours in one run: a benchmark given `--baseline <dir>` (a built checkout of the
 * baseline commit, e.g. `git worktree add ../base 379319d && cd ../base && npm ci && npm run build`)
 * runs itself from both trees as child processes, alternating (ours, baseline, ours, ...) so both
 * see the same machine load, and prints each figure side by side with the ratio ours/baseline.
 * With `sameBench`, both runs use ours's benchmark script in place and only the code under test
 * comes from each tree: the script loads it from `PLUSONE_BENCH_TREE` (see {@link benchModule});
 * nothing is written into the baseline tree (`ownScript` copies the script there instead).
 */
import { spawn } from 'node:child_process'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../test/market/helpers.js'

export interface Figure {
  name: string
  /** Reads the figure from the benchmark's output; undefined when it is not there. */
  read: (output: string) => number | undefined
  /** What a better result looks like (for the reader). */
  better: 'lower' | 'higher'
  unit: string
}

/** `--baseline <dir>` from argv, and argv without it. */
export function baselineArg(argv: string[]): { baseline?: string; rest: string[] } {
  const i = argv.indexOf('--baseline')
  if (i < 0) return { rest: argv }
  return { baseline: resolve(argv[i + 1]), rest: [...argv.slice(0, i), ...argv.slice(i + 2)] }
}

/**
 * The built tree whose code a benchmark measures: `PLUSONE_BENCH_TREE` when set (compare's
 * `sameBench` runs), else this one. Load the code under test with `import(benchModule(...))`.
 */
export const benchTree = (): string => resolve(process.env.PLUSONE_BENCH_TREE ?? ROOT)

/** A file URL of `dist/<path>` in {@link benchTree}, for a dynamic import. */
export const benchModule = (path: string): string => pathToFileURL(join(benchTree(), 'dist', path)).href

/**
 * Runs `node <scriptTree>/dist/bench/<script>.js ...args` with `tree`'s polyfill (and, when the
 * script is not `tree`'s own, `PLUSONE_BENCH_TREE=tree`); resolves with its stdout; bounded by
 * `timeoutMs`.
 */
function runIn(
  tree: string,
  scriptTree: string,
  script: string,
  args: string[],
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        join(tree, 'dist/src/polyfill.js'),
        join(scriptTree, 'dist/bench', `${script}.js`),
        ...args,
      ],
      {
        cwd: tree,
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        env: scriptTree === tree ? process.env : { ...process.env, PLUSONE_BENCH_TREE: tree },
      },
    )
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise(out)
      else reject(new Error(`${tree} ${script} exited with ${code ?? signal}:\n${out}`))
    })
  })
}

/** One decimal, or three below 10 (a ratio such as 0.57 would otherwise print as 0.6). */
const fixed = (v: number): string => v.toFixed(Math.abs(v) < 10 ? 3 : 1)

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : s[Math.floor((s.length - 1) / 2)]
}

/**
 * Runs `script` from ours and from `baseline`, `rounds` times each, alternating, and prints every
 * figure's median per tree, the ratio ours/baseline, and the load average around each run.
 * With `sameBench`, the baseline runs our bench where it is, loading its code from the baseline
 * through `PLUSONE_BENCH_TREE` (a bench written with {@link benchModule}).
 */
export async function compare(
  script: string,
  args: string[],
  baseline: string,
  figures: Figure[],
  {
    rounds = 1,
    timeoutMs = 20 * 60_000,
    sameBench = false,
  }: { rounds?: number; timeoutMs?: number; sameBench?: boolean } = {},
): Promise<void> {
  const trees = { ours: ROOT, baseline }
  const got: Record<'ours' | 'baseline', number[][]> = { ours: [], baseline: [] }
  const loads: string[] = []
  for (let r = 0; r < rounds; r++) {
    for (const which of ['ours', 'baseline'] as const) {
      const before = loadavg()[0]
      const scriptTree = sameBench ? ROOT : trees[which]
      const out = await runIn(trees[which], scriptTree, script, args, timeoutMs)
      loads.push(`${which} ${before.toFixed(1)}→${loadavg()[0].toFixed(1)}`)
      got[which].push(figures.map((f) => f.read(out) ?? Number.NaN))
      process.stderr.write(`${which} round ${r + 1}:\n${out}\n`)
    }
  }
  const width = Math.max(...figures.map((f) => f.name.length + f.unit.length + 3))
  console.log(
    `${script}: ours (${trees.ours}) vs baseline (${baseline}${sameBench ? ', run by our bench' : ''}), median of ${rounds} alternating run(s)`,
  )
  console.log(`${'figure'.padEnd(width)}  ${'baseline'.padStart(10)}  ${'ours'.padStart(10)}  ratio`)
  figures.forEach((f, i) => {
    const b = median(got.baseline.map((row) => row[i]))
    const o = median(got.ours.map((row) => row[i]))
    console.log(
      `${`${f.name} (${f.unit})`.padEnd(width)}  ${fixed(b).padStart(10)}  ${fixed(o).padStart(10)}  ${(o / b).toFixed(2)}  (${f.better} is better)`,
    )
  })
  console.log(`load average (1 min) before→after each run: ${loads.join(', ')}`)
}

/** A figure read by a regular expression's first group. */
export function figure(name: string, unit: string, better: Figure['better'], pattern: RegExp): Figure {
  return {
    name,
    unit,
    better,
    read: (out) => {
      const m = pattern.exec(out)
      return m == null ? undefined : Number(m[1])
    },
  }
}
