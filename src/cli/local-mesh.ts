import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { newSwarmKey } from '../node/index.js'
import { CliError } from './common.js'

const START_TIMEOUT_MS = 30_000

export interface LocalNode {
  dataDir: string
  child: ChildProcess
  address: string
}

/**
 * A private mesh of real `plusone daemon` processes on loopback, in a temporary directory, with
 * a fresh swarm key. `stop()` ends every process and removes the directory; it also runs if this
 * process is interrupted, so no daemon is ever left behind.
 */
export class LocalMesh {
  readonly nodes: LocalNode[] = []
  private root = ''
  private readonly onExit = (): void => {
    for (const n of this.nodes) n.child.kill('SIGKILL')
  }

  constructor(
    private readonly size: number,
    private readonly say: (line: string) => void,
    private readonly extraArgs: string[] = [],
    /** The CLI entry to run daemons with. @default this process's own entry */
    private readonly bin: string = process.argv[1],
  ) {}

  async start(): Promise<void> {
    this.root = await mkdtemp(join(tmpdir(), 'plusone-demo-'))
    process.once('exit', this.onExit)
    const keyFile = join(this.root, 'swarm.key')
    await writeFile(keyFile, newSwarmKey(), { mode: 0o600 })
    this.say(`private swarm in ${this.root} (fresh swarm key)`)
    for (let i = 0; i < this.size; i++) {
      const dataDir = join(this.root, `node${i}`)
      await runToEnd(this.bin, ['init', '--data-dir', dataDir])
      const bootstrap = this.nodes.slice(0, 2).flatMap((n) => ['--bootstrap', n.address])
      const node = await startDaemonProcess(this.bin, dataDir, [
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--no-mdns',
        '--swarm-key',
        keyFile,
        ...bootstrap,
        ...this.extraArgs,
      ])
      this.nodes.push(node)
      this.say(`node ${i}: ${node.address}`)
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(
        (n) =>
          new Promise<void>((resolve) => {
            if (n.child.exitCode != null || n.child.signalCode != null) return resolve()
            n.child.once('exit', () => resolve())
            n.child.kill('SIGTERM')
          }),
      ),
    )
    process.removeListener('exit', this.onExit)
    if (this.root !== '') await rm(this.root, { recursive: true, force: true })
  }
}

function runToEnd(bin: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    child.stderr.on('data', (d) => {
      err += d
    })
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new CliError(`plusone ${args[0]} failed: ${err}`)),
    )
  })
}

function startDaemonProcess(bin: string, dataDir: string, args: string[]): Promise<LocalNode> {
  const child = spawn(process.execPath, [bin, 'daemon', '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new CliError(`a daemon did not start within ${START_TIMEOUT_MS / 1000} s:\n${out}`))
    }, START_TIMEOUT_MS)
    const onData = (d: Buffer): void => {
      out += d
      const address = /listening on (\S+)/.exec(out)?.[1]
      if (address != null && out.includes('control API')) {
        clearTimeout(timer)
        child.stdout?.removeAllListeners('data')
        child.stderr?.removeAllListeners('data')
        child.stdout?.resume()
        child.stderr?.resume()
        resolve({ dataDir, child, address })
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new CliError(`a daemon exited (${code}) before it started:\n${out}`))
    })
  })
}
