/**
 * The cost of a relay, measured in the NAT lab (test/nat/lab.ts; needs root):
 * submit→accepted latency and blob throughput for a task whose submitter and executor talk
 * directly (a public submitter; the home executor dials out to it) and through a relay (a
 * submitter at home; the home executor reaches it only via the relay), side by side in one run.
 * A third row, webrtc: a second home submitter whose relayed connection to the executor was
 * upgraded to WebRTC (the public node runs the lab's STUN server; the executor's router is
 * "full cone", see test/nat/webrtc-lab.ts); the relayed submitter runs with --webrtc off.
 *
 *   npm run build && node --import ./dist/src/polyfill.js dist/bench/reachability.js [ROUNDS]
 *
 * Latency is as a user sees it: `plusone submit --wait` at --replicas 1, so each figure includes
 * the CLI's process start (the same for both rows). Throughput: a task with a 16 MiB input minus
 * the median small task, so it counts the blob transfer (and sha256 of it, the same for both).
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cli } from '../test/cli/helpers.js'
import { CrashNode, EXAMPLES, waitFor, writeShaInput } from '../test/crash/helpers.js'
import { type Host, labUnavailable, NatLab } from '../test/nat/lab.js'
import { fullCone, startStun, stunUrl } from '../test/nat/webrtc-lab.js'

const SHA = join(EXAMPLES, 'sha256.wasm')
const PORT = 4101
const ROUNDS = Number(process.argv[2] ?? 8)
const BIG_BYTES = 16 * 1024 * 1024

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Waits until every connection between the two is WebRTC (the upgrade closes the relayed one). */
async function onlyWebrtc(from: CrashNode, to: CrashNode): Promise<void> {
  await waitFor(
    `${from.name} to reach ${to.name} over WebRTC only`,
    async () => {
      const peers = await from.json<Array<{ peerId: string; connections: Array<{ kind: string }> }>>([
        'peers',
        '--json',
      ])
      const kinds = peers.find((p) => p.peerId === to.peerId)?.connections.map((c) => c.kind) ?? []
      return kinds.length > 0 && kinds.every((k) => k === 'webrtc') ? true : undefined
    },
    60_000,
    500,
  )
}

async function main(): Promise<void> {
  const why = labUnavailable()
  if (why != null) {
    console.log(`bench/reachability skipped: ${why}`)
    return
  }
  const work = await mkdtemp(join(tmpdir(), 'plusone-bench-nat-'))
  const lab = new NatLab(work)
  const nodes: CrashNode[] = []
  const stops: Array<() => void> = []
  try {
    const key = join(work, 'swarm.key')
    await writeFile(key, (await cli(['swarm-key'])).stdout, { mode: 0o600 })
    const small = join(work, 'small.bin')
    await writeShaInput(small, 1, 'small')
    const big = join(work, 'big.bin')
    await writeShaInput(big, 1, randomBytes(BIG_BYTES / 2).toString('hex'))

    await lab.start()
    const hosts = {
      relay: await lab.addPublic('p', 1),
      direct: await lab.addPublic('s', 3),
      home: await lab.addHome('a', 11, 1),
      executor: await lab.addHome('b', 12, 2),
      webrtcHome: await lab.addHome('c', 13, 3),
    }
    const stun = await startStun(hosts.relay)
    stops.push(() => stun.kill('SIGKILL'))
    await fullCone(hosts.executor, work)
    const ice = ['--ice-server', stunUrl(hosts.relay)]
    const make = (h: Host, extra: string[]): CrashNode => {
      const listen = h.kind === 'public' ? `/ip4/${h.ip}/tcp/${PORT}` : `/ip4/0.0.0.0/tcp/${PORT}`
      const n = new CrashNode(
        h.name,
        join(work, h.name),
        ['--listen', listen, '--swarm-key', key, ...extra],
        lab.wrap(h),
      )
      nodes.push(n)
      return n
    }
    const relay = make(hosts.relay, ['--max-tasks', '0'])
    const direct = make(hosts.direct, ['--max-tasks', '0', '--relay', 'off'])
    const home = make(hosts.home, ['--max-tasks', '0', '--webrtc', 'off'])
    const executor = make(hosts.executor, ['--cpus', '1', '--max-tasks', '1', ...ice])
    const webrtcHome = make(hosts.webrtcHome, ['--max-tasks', '0', ...ice])
    await Promise.all(nodes.map((n) => n.init()))
    await relay.start()
    const boot = [`/ip4/${hosts.relay.ip}/tcp/${PORT}/p2p/${relay.peerId}`]
    await Promise.all([direct, home, executor, webrtcHome].map((n) => n.start(boot)))
    await waitFor(
      'the homes to hold a relay reservation',
      async () => {
        for (const n of [home, executor, webrtcHome]) {
          const id = await n.json<{ addresses: string[] }>(['id', '--json'])
          if (!id.addresses.some((a) => a.includes('/p2p-circuit'))) return undefined
        }
        return true
      },
      120_000,
      1_000,
    ).catch(async (err: Error) => {
      const ids = await Promise.all(nodes.map((n) => n.cli(['doctor'])))
      throw new Error(
        `${err.message}\n${ids.map((r, i) => `${nodes[i].name}: ${r.stdout}${r.stderr}`).join('\n')}`,
      )
    })

    const job = async (submitter: CrashNode, input: string): Promise<number> => {
      const t0 = performance.now()
      const r = await submitter.cli(['submit', SHA, '--input', input, '--replicas', '1', '--wait', '--json'])
      if (r.code !== 0) throw new Error(`${submitter.name}: ${r.stderr}${r.stdout}`)
      return performance.now() - t0
    }
    const rows: Array<{ path: string; p50: number; bigMs: number; mbps: number }> = []
    for (const [path, submitter] of [
      ['direct (public submitter)', direct],
      ['relayed (home submitter)', home],
      ['webrtc (home submitter)', webrtcHome],
    ] as const) {
      await job(submitter, small) // warm: connections, module blob
      if (submitter === webrtcHome) await onlyWebrtc(webrtcHome, executor)
      const lat: number[] = []
      for (let i = 0; i < ROUNDS; i++) lat.push(await job(submitter, small))
      const bigMs = median([await job(submitter, big), await job(submitter, big)])
      const p50 = median(lat)
      rows.push({ path, p50, bigMs, mbps: BIG_BYTES / 2 ** 20 / ((bigMs - p50) / 1000) })
    }
    console.log(`submit→accepted at --replicas 1 (${ROUNDS} rounds) and a ${BIG_BYTES / 2 ** 20} MiB input`)
    console.log('path                        p50 ms   16 MiB task ms   input MiB/s')
    for (const r of rows) {
      console.log(
        `${r.path.padEnd(28)}${r.p50.toFixed(0).padStart(6)}   ${r.bigMs.toFixed(0).padStart(14)}   ${r.mbps.toFixed(1).padStart(11)}`,
      )
    }
    console.log(
      `ratio relayed/direct: latency ${(rows[1].p50 / rows[0].p50).toFixed(2)}×, throughput ${(rows[1].mbps / rows[0].mbps).toFixed(2)}×`,
    )
    console.log(
      `ratio webrtc/relayed: latency ${(rows[2].p50 / rows[1].p50).toFixed(2)}×, throughput ${(rows[2].mbps / rows[1].mbps).toFixed(2)}×`,
    )
    console.log('upgraded by UPnP / DCUtR: not measured — see README "Behind a home router"')
  } finally {
    for (const stop of stops) stop()
    await Promise.all(nodes.map((n) => n.kill()))
    await lab.stop()
    await rm(work, { recursive: true, force: true })
  }
}

await main()
