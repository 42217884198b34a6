/**
 * The sandbox seen from outside real daemons: tasks that never yield run in worker processes
 * bounded by --cpus; SIGTERM stops the daemon cleanly within its stop deadline and leaves no
 * child behind; even a SIGKILLed daemon takes its workers with it.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { LocalMesh } from '../../src/cli/local-mesh.js'
import { alive, childrenOf, cmdlineOf } from '../runtime/procfs.js'
import { BIN, cli, until } from './helpers.js'

const SPIN = fileURLToPath(new URL('../../../examples/build/wat/infinite_loop.wasm', import.meta.url))

function workersOf(pid: number): number[] {
  return childrenOf(pid).filter((c) => {
    try {
      return cmdlineOf(c).some((a) => a.endsWith('runtime/worker.js'))
    } catch {
      return false // exited while we looked
    }
  })
}

/** CPU time a process has used, in clock ticks. */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(f[11]) + Number(f[12]) // utime + stime
  } catch {
    return 0
  }
}

function exitOf(child: import('node:child_process').ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

describe('daemons running tasks that never yield', () => {
  const mesh = new LocalMesh(3, () => {}, ['--cpus', '1'], BIN)
  const output = new Map<number, string>()
  let work: string

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'plusone-sandbox-'))
    await mkdir(join(work, 'in'))
    for (const name of ['a', 'b']) await writeFile(join(work, 'in', name), name)
    await mesh.start()
    for (const n of mesh.nodes) {
      output.set(n.child.pid!, '')
      const keep = (d: Buffer) => output.set(n.child.pid!, output.get(n.child.pid!) + d.toString())
      n.child.stdout?.on('data', keep)
      n.child.stderr?.on('data', keep)
    }
    await until('capacity records of all 3 nodes', async () => {
      const r = await cli(['nodes', '--json', '--data-dir', mesh.nodes[0]!.dataDir])
      return JSON.parse(r.stdout).length >= 3 ? true : undefined
    })
  })
  after(async () => {
    await mesh.stop()
    await rm(work, { recursive: true, force: true })
  })

  it('run in at most --cpus worker processes; SIGTERM exits cleanly and SIGKILL leaves no worker behind', async () => {
    const submit = await cli([
      'submit',
      SPIN,
      '--inputs',
      join(work, 'in'),
      '--replicas',
      '1',
      '--fuel',
      '1000000G',
      '--deadline',
      '10m',
      '--data-dir',
      mesh.nodes[0]!.dataDir,
    ])
    assert.equal(submit.code, 0, submit.stderr)

    // node 0 submits; --max-tasks defaults to --cpus, so nodes 1 and 2 take one task each
    const daemons = mesh.nodes.slice(1).map((n) => n.child.pid!)
    let most = 0
    await until(
      'both daemons busy with a task',
      async () => {
        let busy = 0
        for (const d of mesh.nodes.map((n) => n.child.pid!)) {
          const workers = workersOf(d)
          most = Math.max(most, workers.length)
          if (daemons.includes(d) && workers.some((w) => cpuTicks(w) > 50)) busy++
        }
        return busy === daemons.length ? true : undefined
      },
      120,
    )
    assert.ok(most <= 1, `--cpus 1 means one worker process per daemon, saw ${most}`)

    const [first, second] = daemons
    const firstChild = mesh.nodes.find((n) => n.child.pid === first)!.child
    const children = childrenOf(first!)
    assert.ok(children.length >= 2, 'a worker and a preparer')
    firstChild.kill('SIGTERM')
    assert.equal(await exitOf(firstChild), 0, output.get(first!))
    assert.match(output.get(first!) ?? '', /stopped/)
    assert.doesNotMatch(output.get(first!) ?? '', /did not stop/)
    assert.deepEqual(
      children.filter((c) => alive(c)),
      [],
      'no child of the stopped daemon remains',
    )

    const secondChild = mesh.nodes.find((n) => n.child.pid === second)!.child
    const orphans = childrenOf(second!)
    assert.ok(orphans.length >= 2)
    secondChild.kill('SIGKILL')
    await exitOf(secondChild)
    // the kernel delivers the parent-death signal as the daemon exits; wait for it to land
    await until('the SIGKILLed daemon’s children to die', async () =>
      orphans.every((c) => !alive(c)) ? true : undefined,
    )
  })
})
