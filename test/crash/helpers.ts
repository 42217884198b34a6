/**
 * Real daemon processes for crash tests: each node keeps its data directory across kills and
 * restarts, so a restarted daemon resumes from exactly what the killed one had written.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BIN, cli, type DaemonProcess, daemon } from '../cli/helpers.js'

export const EXAMPLES = fileURLToPath(new URL('../../../examples/build/', import.meta.url))

/** Micro-credits per credit, as the ledger counts. */
export const MICRO = 1_000_000n

export interface JobJson {
  jobId: string
  status: string
  tasks: Array<{ taskId: string; input: string; status: string; outputHash?: string }>
}

export interface ReceiptJson {
  id: string
  taskId: string
  jobId: string
  submitter: string
  executor: string
  verdict: 'accepted' | 'rejected' | 'timed_out'
  fuelUsed: string
  pricePerGfuel: string
  amount: string
  signed: string
}

export interface LedgerJson {
  peerId: string
  balance: number
  peers: Array<{ peerId: string; balance: number }>
}

/** Calls the node's control API directly (cheaper than a CLI process for tight polling). */
export async function api<T>(dataDir: string, path: string): Promise<T> {
  const info = JSON.parse(await readFile(join(dataDir, 'api.json'), 'utf8')) as { url: string; token: string }
  const res = await fetch(`${info.url}/api/v1${path}`, {
    headers: { authorization: `Bearer ${info.token}` },
    signal: AbortSignal.timeout(10_000),
  })
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`)
  const type = res.headers.get('content-type') ?? ''
  return (type.includes('json') ? await res.json() : new Uint8Array(await res.arrayBuffer())) as T
}

/** Runs a CLI command that must succeed and returns its stdout parsed as JSON. */
export async function cliJson<T>(args: string[]): Promise<T> {
  const r = await cli(args)
  assert.equal(r.code, 0, `plusone ${args.join(' ')}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

/** A prefix that runs a command in another network namespace (empty: this one). */
export type Wrap = string[]

/** One node: a data directory that outlives its daemon processes. */
export class CrashNode {
  proc?: DaemonProcess
  address = ''
  peerId = ''

  constructor(
    readonly name: string,
    readonly dataDir: string,
    private readonly args: string[],
    private readonly wrap: Wrap = [],
  ) {}

  async init(): Promise<void> {
    const r = await run([...this.wrap, process.execPath, BIN, 'init', '--data-dir', this.dataDir])
    assert.equal(r.code, 0, r.stderr)
    const id = await run([...this.wrap, process.execPath, BIN, 'id', '--json', '--data-dir', this.dataDir])
    this.peerId = (JSON.parse(id.stdout) as { peerId: string }).peerId
  }

  /** Starts (or restarts) the daemon on the same data directory. */
  async start(bootstrap: string[] = []): Promise<void> {
    const args = [
      '--data-dir',
      this.dataDir,
      '--no-mdns',
      ...this.args,
      ...bootstrap.flatMap((b) => ['--bootstrap', b]),
    ]
    this.proc = await daemon(args, { wrap: this.wrap })
    const m = /listening on (\S+)/.exec(this.proc.output())
    assert.ok(m != null, `no listen address in:\n${this.proc.output()}`)
    this.address = m[1]
  }

  /** kill -9: nothing is flushed, nothing is stopped cleanly. */
  async kill(): Promise<void> {
    await this.proc?.stop('SIGKILL')
  }

  alive(): boolean {
    const c = this.proc?.child
    return c != null && c.exitCode == null && c.signalCode == null
  }

  /** `plusone ARGS --data-dir <this node>`, in this node's namespace. */
  cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const full = [...args, '--data-dir', this.dataDir]
    return this.wrap.length === 0 ? cli(full) : run([...this.wrap, process.execPath, BIN, ...full])
  }

  async json<T>(args: string[]): Promise<T> {
    const r = await this.cli(args)
    assert.equal(r.code, 0, `${this.name}: plusone ${args.join(' ')}: ${r.stderr}`)
    return JSON.parse(r.stdout) as T
  }

  receipts(): Promise<ReceiptJson[]> {
    return this.json<ReceiptJson[]>(['ledger', '--export', 'json'])
  }
}

/** Runs a command to completion (bounded), capturing its output. */
export function run(
  argv: string[],
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Polls `check` every `intervalMs` until it returns a value; bounded by `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs
  for (let i = 0; Date.now() < end && i < 100_000; i++) {
    // a failed assertion ends the wait; anything else (a daemon restarting) is retried
    const v = await check().catch((err: Error) => {
      if (err instanceof assert.AssertionError) throw err
      return undefined
    })
    if (v !== undefined) return v
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms`)
}

/** Writes the expected output of `module` on each input, computed by `plusone run` locally. */
export async function localOutputs(
  module: string,
  inputs: Map<string, string>,
  dir: string,
): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  for (const [name, path] of inputs) {
    const file = join(dir, `${name}.expected`)
    const r = await cli(['run', module, '--input', path, '--fuel', '100G', '-o', file])
    assert.equal(r.code, 0, r.stderr)
    out.set(name, await readFile(file))
  }
  return out
}

/** A sha256 task input: iteration count (u32 little-endian), then the message. */
export async function writeShaInput(path: string, iterations: number, message: string): Promise<void> {
  const b = Buffer.alloc(4 + Buffer.byteLength(message))
  b.writeUInt32LE(iterations, 0)
  b.write(message, 4)
  await writeFile(path, b)
}

/**
 * Ledger invariants every node must satisfy: one receipt per (task, executor) — the export is
 * keyed by receipt id, so also check the pairs — amounts 0 unless accepted, and every balance
 * equal to the sum of the receipts naming that peer.
 */
export function checkReceipts(receipts: ReceiptJson[]): Map<string, bigint> {
  const pairs = new Set<string>()
  const balances = new Map<string, bigint>()
  const add = (peer: string, v: bigint): void => {
    balances.set(peer, (balances.get(peer) ?? 0n) + v)
  }
  for (const r of receipts) {
    const pair = `${r.taskId}/${r.executor}`
    assert.ok(!pairs.has(pair), `two receipts for task ${r.taskId} and executor ${r.executor}`)
    pairs.add(pair)
    const amount = BigInt(r.amount)
    if (r.verdict !== 'accepted') assert.equal(amount, 0n, `a ${r.verdict} receipt pays ${amount}`)
    add(r.executor, amount)
    add(r.submitter, -amount)
  }
  return balances
}

/** Compares `ledger --json` balances (credits) with the sums of the receipts (micro-credits). */
export function assertBalances(ledger: LedgerJson, sums: Map<string, bigint>): void {
  const micro = (credits: number): bigint => BigInt(Math.round(credits * Number(MICRO)))
  assert.equal(micro(ledger.balance), sums.get(ledger.peerId) ?? 0n, `balance of ${ledger.peerId}`)
  for (const p of ledger.peers) {
    assert.equal(micro(p.balance), sums.get(p.peerId) ?? 0n, `balance of ${p.peerId}`)
  }
}
