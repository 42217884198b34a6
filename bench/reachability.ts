/**
 * The cost of each path between a submitter and an executor, measured in the NAT lab
 * (test/nat/lab.ts; needs root and miniupnpd): submit→accepted latency and blob throughput for
 * one home executor B working for three submitters, side by side in one run:
 *
 * - direct: a public submitter S; B dials out to it.
 * - relayed: a submitter at home A behind a plain NAT; B reaches it only through relay P.
 * - upgraded: a submitter at home U whose router forwards a port over UPnP (miniupnpd; UPnP is
 *   on by default); B dials U's mapped address directly.
 * - webrtc: a submitter at home C; C and B first meet through relay P, then punch a UDP hole
 *   (WebRTC, signalled over the relayed connection; P runs the lab's STUN server for ICE, B's
 *   router is "full cone", see test/nat/webrtc-lab.ts) and the relayed connection is closed.
 *   A and U have no ICE server, so WebRTC is off for them and their rows stay as named.
 *
 *   npm run build && node --import ./dist/src/polyfill.js dist/bench/reachability.js [ROUNDS]
 *
 * Latency is as a user sees it: `plusone submit --wait` at --replicas 1, so each figure includes
 * the CLI's process start (the same for every row). Throughput: a task with a 16 MiB input minus
 * the median small task, so it counts the blob transfer (and sha256 of it, the same for all).
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cli } from '../test/cli/helpers.js'
import { type CrashNode, EXAMPLES, waitFor, writeShaInput } from '../test/crash/helpers.js'
import { type Host, LAB_PORT, labUnavailable, NatLab } from '../test/nat/lab.js'
import { fullCone, startStun, stunUrl } from '../test/nat/webrtc-lab.js'

const SHA = join(EXAMPLES, 'sha256.wasm')
const PORT = LAB_PORT
const ROUNDS = Number(process.argv[2] ?? 20)
const BIG_BYTES = 16 * 1024 * 1024
const BIG_ROUNDS = 5

const quantile = (xs: number[], q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]
}
const median = (xs: number[]): number => quantile(xs, 0.5)

type PeersJson = Array<{ peerId: string; connections?: Array<{ kind: string }> }>
const peersOf = (n: CrashNode): Promise<PeersJson> => n.json<PeersJson>(['peers', '--json'])
/** The kinds of connection in `peers` to `n`, e.g. `relayed`, `webrtc`, `direct+relayed`. */
const kindsOf = (peers: PeersJson, n: CrashNode): string =>
  [...new Set(peers.find((p) => p.peerId === n.peerId)?.connections?.map((c) => c.kind) ?? ['none'])].join(
    '+',
  )

async function main(): Promise<void> {
  const why = labUnavailable({ upnp: true })
  if (why != null) {
    console.log(`bench/reachability skipped: ${why}`)
    return
  }
  const work = await mkdtemp(join(tmpdir(), 'plusone-bench-nat-'))
  const lab = new NatLab(work)
  const nodes: CrashNode[] = []
  let ice: ChildProcess | undefined
  try {
    const key = join(work, 'swarm.key')
    await writeFile(key, (await cli(['swarm-key'])).stdout, { mode: 0o600 })
    const small = join(work, 'small.bin')
    await writeShaInput(small, 1, 'small')
    const big = join(work, 'big.bin')
    await writeShaInput(big, 1, randomBytes(BIG_BYTES / 2).toString('hex'))

    await lab.start()
    const stun = await lab.addStun('stun', 5)
    const hosts = {
      relay: await lab.addPublic('p', 1),
      direct: await lab.addPublic('s', 3),
      home: await lab.addHome('a', 11, 1),
      executor: await lab.addHome('b', 12, 2),
      upnp: await lab.addHome('u', 14, 4, { upnp: { stun } }),
      webrtc: await lab.addHome('c', 13, 3),
    }
    ice = await startStun(hosts.relay)
    await fullCone(hosts.executor, work)
    const iceServer = ['--ice-server', stunUrl(hosts.relay)]
    const make = (h: Host, extra: string[]): CrashNode => {
      const n = lab.plusone(h, join(work, h.name), ['--swarm-key', key, ...extra])
      nodes.push(n)
      return n
    }
    const relay = make(hosts.relay, ['--max-tasks', '0'])
    const direct = make(hosts.direct, ['--max-tasks', '0', '--relay', 'off'])
    const home = make(hosts.home, ['--max-tasks', '0'])
    const executor = make(hosts.executor, ['--cpus', '1', '--max-tasks', '1', ...iceServer])
    // U relays for nobody: B must reach A through P alone
    const upnp = make(hosts.upnp, ['--max-tasks', '0', '--relay', 'off'])
    const webrtc = make(hosts.webrtc, ['--max-tasks', '0', ...iceServer])
    await Promise.all(nodes.map((n) => n.init()))
    await relay.start()
    const boot = [`/ip4/${hosts.relay.ip}/tcp/${PORT}/p2p/${relay.peerId}`]
    await Promise.all([direct, home, executor, upnp, webrtc].map((n) => n.start(boot)))
    const mapped = `/ip4/${hosts.upnp.wanIp}/tcp/${PORT}/p2p/${upnp.peerId}`
    await waitFor(
      'the homes to hold a relay reservation and U to be reachable at its mapped port',
      async () => {
        for (const n of [home, executor, webrtc]) {
          const id = await n.json<{ addresses: string[] }>(['id', '--json'])
          if (!id.addresses.some((a) => a.includes('/p2p-circuit'))) return undefined
        }
        const u = await upnp.json<{ addresses: string[] }>(['id', '--json'])
        return u.addresses.includes(mapped) ? true : undefined
      },
      120_000,
      1_000,
    ).catch(async (err: Error) => {
      const ids = await Promise.all(nodes.map((n) => n.cli(['doctor'])))
      throw new Error(
        `${err.message}\n${ids.map((r, i) => `${nodes[i].name}: ${r.stdout}${r.stderr}`).join('\n')}\nA's log:\n${home.proc?.output().slice(-8000)}`,
      )
    })

    const job = async (submitter: CrashNode, input: string): Promise<number> => {
      const t0 = performance.now()
      const r = await submitter.cli(['submit', SHA, '--input', input, '--replicas', '1', '--wait', '--json'])
      if (r.code !== 0) {
        const why = await Promise.all(
          [submitter.cli(['jobs']), submitter.cli(['doctor']), executor.cli(['doctor'])].map(async (x) => {
            const o = await x
            return `${o.stdout}${o.stderr}`
          }),
        )
        throw new Error(
          `${submitter.name}: submit exited with ${r.code}: ${r.stderr}${r.stdout}\n${why.join('\n')}\n${submitter.name}'s log: ${submitter.proc?.output().slice(-6000)}\nB's log: ${executor.proc?.output().slice(-6000)}`,
        )
      }
      return performance.now() - t0
    }
    interface Row {
      path: string
      p50: number
      p99: number
      bigMs: number
      mbps: number
    }
    const paths = [
      ['direct (public submitter)', direct],
      ['relayed (home, via relay)', home],
      ['upgraded (home, UPnP port)', upnp],
      ['webrtc (home, hole punched)', webrtc],
    ] as const
    // rounds go round-robin over the paths, so a warm-up or a busy moment favours none of them
    for (const [, submitter] of paths) await job(submitter, small) // warm: connections, module blob
    // the warm-up brought C and B together through P; the upgrade follows
    await waitFor(
      'C and B to be on WebRTC only',
      async () => (kindsOf(await peersOf(executor), webrtc) === 'webrtc' ? true : undefined),
      60_000,
      500,
    )
    const lat = paths.map(() => [] as number[])
    const bigs = paths.map(() => [] as number[])
    for (let i = 0; i < ROUNDS; i++)
      for (const [j, [, s]] of paths.entries()) lat[j].push(await job(s, small))
    for (let i = 0; i < BIG_ROUNDS; i++)
      for (const [j, [, s]] of paths.entries()) bigs[j].push(await job(s, big))
    const rows: Row[] = paths.map(([path], j) => {
      const p50 = median(lat[j])
      const bigMs = median(bigs[j])
      return {
        path,
        p50,
        p99: quantile(lat[j], 0.99),
        bigMs,
        mbps: BIG_BYTES / 2 ** 20 / ((bigMs - p50) / 1000),
      }
    })
    // how B reached each submitter: the row names must be true
    const peers = await peersOf(executor)
    const kinds = (n: CrashNode): string => kindsOf(peers, n)
    console.log(
      `B's connections now: direct→S ${kinds(direct)}, relayed→A ${kinds(home)}, upgraded→U ${kinds(upnp)}, webrtc→C ${kinds(webrtc)}`,
    )
    console.log(
      `submit→accepted at --replicas 1 (${ROUNDS} rounds each, \`plusone submit --wait\` incl. CLI start) and a ${BIG_BYTES / 2 ** 20} MiB input (median of ${BIG_ROUNDS})`,
    )
    console.log(
      '| path | p50 ms | p99 ms | 16 MiB task ms | input MiB/s | latency vs direct | MiB/s vs direct |',
    )
    console.log('|---|---:|---:|---:|---:|---:|---:|')
    const [base] = rows
    for (const r of rows) {
      console.log(
        `| ${r.path} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${r.bigMs.toFixed(0)} | ${r.mbps.toFixed(1)} | ${(r.p50 / base.p50).toFixed(2)}× | ${(r.mbps / base.mbps).toFixed(2)}× |`,
      )
    }
  } finally {
    ice?.kill('SIGKILL')
    await Promise.all(nodes.map((n) => n.kill()))
    await lab.stop()
    await rm(work, { recursive: true, force: true })
  }
}

await main()
