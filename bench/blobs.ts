/**
 * Blob throughput over one libp2p stream (tcp + noise + yamux) on loopback, beside a raw
 * node:net copy of the same bytes in the same run.
 *
 *   npm run build && node --import ./dist/src/polyfill.js dist/bench/blobs.js [MiB] [runs] [--one-process] [--hash-thread|--hash-inline]
 *   ... dist/bench/blobs.js --baseline ../base [MiB] [runs] [rounds] [--one-process]   (baseline and
 *   ours, alternated `rounds` times, bench/compare.ts; the baseline's code is run by this script)
 *
 * `--hash-thread` hashes fetched blobs on the store's thread whatever their size and the core count,
 * `--hash-inline` on the main thread (the default: the thread for blobs of 4 MiB or more on 4+ cores).
 *
 * The holder runs in a child process, as in real use, where it is another machine: its file reads
 * and the fetcher's hashing and writes do not share one main thread. `--one-process` puts both
 * ends in this process (how the bench measured before). The bare stream is served by the same
 * holder, so both figures see the same layout.
 *
 * Besides MB/s it prints the CPU each transfer costs the fetching process (whole process, and its
 * main thread) and the holder's: on a shared machine wall time swings 2-4x, CPU much less.
 * With `PLUSONE_BENCH_PROFILE=<file>.cpuprofile` it then profiles `runs` more fetches into that
 * file and as many bare-stream copies into `<file>-bare.cpuprofile` (scripts/cpuprofile.mjs).
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, connect, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { BlobCid } from '../src/blobs/index.js'
import { baselineArg, benchModule, compare, figure } from './compare.js'
import { startProfile } from './profile.js'

// the code under test comes from the tree being measured (compare's sameBench: the baseline's
// with --baseline), so both trees are measured by this same script
const { BlobService, BlobStore, parseBlobCid } = (await import(
  benchModule('src/blobs/index.js')
)) as typeof import('../src/blobs/index.js')

const argv = process.argv.slice(2)
const onePlace = argv.includes('--one-process')
/** Hash fetched blobs on the store's thread whatever the core count (see HASH_THREAD_MIN_CORES). */
const hashThread = argv.includes('--hash-thread')
/** Hash fetched blobs on the main thread whatever their size. */
const hashInline = argv.includes('--hash-inline')
const holderRole = argv.includes('--holder')
const { baseline, rest } = baselineArg(
  argv.filter((a) => !['--one-process', '--holder', '--hash-thread', '--hash-inline'].includes(a)),
)
if (baseline != null) {
  // [MiB] [runs] go to each tree's bench; a third number is how many times to alternate them.
  // This script measures both trees (older trees' bench/blobs.ts put both ends in one process)
  await compare(
    'blobs',
    [
      ...rest.slice(0, 2),
      ...(onePlace ? ['--one-process'] : []),
      ...(hashThread ? ['--hash-thread'] : []),
      ...(hashInline ? ['--hash-inline'] : []),
    ],
    baseline,
    [
      figure(
        '/plusone/blob/1.0.0',
        'MB/s',
        'higher',
        /\/plusone\/blob\/1\.0\.0 \(noise\+yamux\)\s+([\d.]+) MB\/s/,
      ),
      figure('bare libp2p stream', 'MB/s', 'higher', /bare libp2p stream \(noise\+yamux\)\s+([\d.]+) MB\/s/),
      figure('ratio ours/bare stream', '', 'higher', /ratio ours\/bare libp2p stream\s+([\d.]+)/),
      figure('local store.put', 'MB/s', 'higher', /local store\.put \(hash\+write\+fsync\)\s+([\d.]+) MB\/s/),
      figure('CPU per blob, ours', 'ms', 'lower', /CPU per transfer, ours\s+([\d.]+) ms/),
      figure(
        '— of it main thread',
        'ms',
        'lower',
        /CPU per transfer, ours\s+[\d.]+ ms, main thread ([\d.]+) ms/,
      ),
      figure('CPU per copy, bare stream', 'ms', 'lower', /CPU per transfer, bare stream\s+([\d.]+) ms/),
      figure(
        '— of it main thread',
        'ms',
        'lower',
        /CPU per transfer, bare stream\s+[\d.]+ ms, main thread ([\d.]+) ms/,
      ),
      figure('main-thread bound, bare/ours', '', 'higher', /main-thread bound, bare\/ours\s+([\d.]+)/),
      figure('holder CPU per blob, ours', 'ms', 'lower', /holder CPU per transfer, ours\s+([\d.]+) ms/),
      figure(
        'holder CPU per copy, bare',
        'ms',
        'lower',
        /holder CPU per transfer, ours\s+[\d.]+ ms, bare stream ([\d.]+) ms/,
      ),
    ],
    { rounds: Number(rest[2] ?? 1), sameBench: true },
  )
  process.exit(0)
}
const MIB = 1024 * 1024
const blobMiB = Number(rest[0] ?? 64)
const runs = Number(rest[1] ?? 5)

async function node(): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  })
}

const BARE_PROTOCOL = '/plusone/bench/bare/1.0.0'
/** The bare stream's writes: fixed, so a change of the blob frame size does not move the ceiling. */
const BARE_SEND_BYTES = 512 * 1024

/** The holder's process id when it runs in a child process. */
let holderPid: number | undefined

/** CPU milliseconds (utime + stime, in clock ticks of 10 ms) of a /proc stat file; NaN if unreadable. */
function procCpu(path: string): number {
  try {
    const stat = readFileSync(path, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return Number.NaN
  }
}

/** CPU milliseconds one thread has run (its /proc schedstat, in nanoseconds); NaN if unreadable. */
function threadCpu(path: string): number {
  try {
    return Number(readFileSync(path, 'utf8').split(' ')[0]) / 1e6
  } catch {
    return Number.NaN
  }
}

/**
 * CPU milliseconds used so far: the whole process, its main thread (Linux; else NaN), and the
 * holder's process when it is another one (NaN if not).
 */
function cpuNow(): { all: number; main: number; holder: number } {
  const { user, system } = process.cpuUsage()
  return {
    all: (user + system) / 1000,
    main: threadCpu(`/proc/self/task/${process.pid}/schedstat`),
    holder: holderPid != null ? procCpu(`/proc/${holderPid}/stat`) : Number.NaN,
  }
}

/** Runs `fn`, adding its wall and CPU milliseconds to `into`. */
async function timed(
  into: { wall: number[]; cpu: number[]; main: number[]; holder: number[] },
  fn: () => Promise<unknown>,
): Promise<void> {
  const c0 = cpuNow()
  const started = performance.now()
  await fn()
  into.wall.push(performance.now() - started)
  const c1 = cpuNow()
  into.cpu.push(c1.all - c0.all)
  into.main.push(c1.main - c0.main)
  into.holder.push(c1.holder - c0.holder)
}

/** CPU-profiles `fn` run `times` times into `file`. */
async function profile(file: string, times: number, fn: () => Promise<unknown>): Promise<void> {
  const stop = await startProfile(file)
  for (let i = 0; i < times; i++) await fn()
  await stop?.()
}

/**
 * The transport's ceiling: the same bytes pushed over one bare libp2p stream (same
 * connection, noise + yamux) and only counted, no store, hash or framing.
 */
async function bareStreamCopy(from: Libp2p, to: { peerId: PeerId }, expectedBytes: number): Promise<void> {
  const stream = await from.dialProtocol(to.peerId, BARE_PROTOCOL)
  await stream.close()
  let received = 0
  for await (const chunk of stream) received += chunk.byteLength
  if (received !== expectedBytes) throw new Error('short copy')
}

/** Raw TCP: the server writes the bytes, the client counts them; returns milliseconds. */
async function rawTcpCopy(bytes: Uint8Array): Promise<number> {
  const server = createServer((socket) => {
    socket.end(bytes)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const started = performance.now()
  await new Promise<void>((resolve, reject) => {
    let received = 0
    const socket = connect(port, '127.0.0.1')
    socket.on('data', (chunk: Buffer) => {
      received += chunk.byteLength
    })
    socket.on('end', () => (received === bytes.byteLength ? resolve() : reject(new Error('short copy'))))
    socket.on('error', reject)
  })
  const ms = performance.now() - started
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return ms
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

interface Holder {
  peerId: PeerId
  addr: string
  cid: BlobCid
  stop: () => Promise<void>
}

/** The holding end: a node that serves `bytes` as a blob and on the bare protocol. */
async function startHolder(dir: string, bytes: Uint8Array): Promise<Holder> {
  const a = await node()
  const store = await BlobStore.open({ dataDir: join(dir, 'a'), maxBlobBytes: bytes.byteLength })
  const service = new BlobService({ registrar: a, dialer: a, store, logger: a.logger })
  await service.start()
  await a.handle(BARE_PROTOCOL, async (stream) => {
    for (let i = 0; i < bytes.byteLength; i += BARE_SEND_BYTES) {
      if (!stream.send(bytes.subarray(i, i + BARE_SEND_BYTES))) await stream.onDrain()
    }
    await stream.close()
  })
  const cid = await store.put(bytes)
  return {
    peerId: a.peerId,
    addr: a.getMultiaddrs()[0]!.toString(),
    cid,
    stop: async () => {
      await service.stop()
      await a.stop()
    },
  }
}

/** The holder in a child process (this script with --holder): ready once it printed its address. */
async function holderProcess(): Promise<Holder> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--holder', String(blobMiB)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  )
  holderPid = child.pid
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the holder process did not start within 60 s')), 60_000)
    createInterface({ input: child.stdout }).once('line', (l) => {
      clearTimeout(timer)
      resolve(l)
    })
    child.once('exit', (code) => reject(new Error(`the holder process exited with ${code}`)))
  })
  const { addr, peerId, cid } = JSON.parse(line) as { addr: string; peerId: string; cid: string }
  return {
    peerId: peerIdFromString(peerId),
    cid: parseBlobCid(cid),
    addr,
    stop: async () => {
      child.stdin.end()
      await exited
    },
  }
}

/** `--holder`: serve, print the address and the blob's CID, stop when stdin closes. */
async function holderMain(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'plusone-bench-blobs-holder-'))
  try {
    const holder = await startHolder(dir, randomBytes(blobMiB * MIB))
    console.log(
      JSON.stringify({ addr: holder.addr, peerId: holder.peerId.toString(), cid: holder.cid.toString() }),
    )
    process.stdin.resume()
    await new Promise((resolve) => process.stdin.once('end', resolve))
    await holder.stop()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'plusone-bench-blobs-'))
  const b = await node()
  const bytes = randomBytes(blobMiB * MIB)
  const held = onePlace ? await startHolder(dir, bytes) : await holderProcess()
  const cid = held.cid
  try {
    const storeB = await BlobStore.open({
      dataDir: join(dir, 'b'),
      maxBlobBytes: blobMiB * MIB,
      ...(hashThread ? { hashThreadMinBytes: 0 } : {}),
      ...(hashInline ? { hashThreadMinBytes: Number.POSITIVE_INFINITY } : {}),
    })
    const fetcher = new BlobService({ registrar: b, dialer: b, store: storeB, logger: b.logger })
    await fetcher.start()
    await b.dial(multiaddr(held.addr))

    const oursT = { wall: [] as number[], cpu: [] as number[], main: [] as number[], holder: [] as number[] }
    const bareT = { wall: [] as number[], cpu: [] as number[], main: [] as number[], holder: [] as number[] }
    const ours = oursT.wall
    const bare = bareT.wall
    const raw: number[] = []
    const disk: number[] = []
    const fetchOnce = async (): Promise<void> => {
      await fetcher.fetch(cid, { holders: [held.peerId] })
    }
    // one warm-up of each, then alternate so both see the same machine state
    await fetcher.fetch(cid, { holders: [held.peerId] })
    await storeB.delete(cid)
    await rawTcpCopy(bytes)
    await bareStreamCopy(b, held, bytes.byteLength)
    for (let i = 0; i < runs; i++) {
      await timed(oursT, fetchOnce)
      await storeB.delete(cid)
      raw.push(await rawTcpCopy(bytes))
      await timed(bareT, async () => bareStreamCopy(b, held, bytes.byteLength))
      const putStarted = performance.now()
      const putCid = await storeB.put(bytes)
      disk.push(performance.now() - putStarted)
      await storeB.delete(putCid)
    }
    const mbps = (ms: number): number => bytes.byteLength / 1e6 / (ms / 1000)
    const oursMBps = mbps(median(ours))
    const rawMBps = mbps(median(raw))
    console.log(
      `blob ${blobMiB} MiB, ${runs} runs, median (best); ${onePlace ? 'both ends in this process' : 'the holder in another process'}${hashThread ? ', hashed on the store thread' : hashInline ? ', hashed inline' : ''}`,
    )
    console.log(
      `  raw TCP copy (node:net)            ${rawMBps.toFixed(0).padStart(6)} MB/s  (${mbps(Math.min(...raw)).toFixed(0)})`,
    )
    console.log(
      `  bare libp2p stream (noise+yamux)   ${mbps(median(bare)).toFixed(0).padStart(6)} MB/s  (${mbps(Math.min(...bare)).toFixed(0)})` +
        '  counted only: the transport ceiling',
    )
    console.log(
      `  local store.put (hash+write+fsync) ${mbps(median(disk)).toFixed(0).padStart(6)} MB/s  (${mbps(Math.min(...disk)).toFixed(0)})` +
        '  no network: the disk ceiling',
    )
    console.log(
      `  /plusone/blob/1.0.0 (noise+yamux)  ${oursMBps.toFixed(0).padStart(6)} MB/s  (${mbps(Math.min(...ours)).toFixed(0)})` +
        '  verified + fsynced to disk',
    )
    console.log(`  ratio ours/raw TCP                 ${(oursMBps / rawMBps).toFixed(3)}`)
    console.log(`  ratio ours/bare libp2p stream      ${(oursMBps / mbps(median(bare))).toFixed(3)}`)
    console.log(
      `  CPU per transfer, ours             ${median(oursT.cpu).toFixed(0)} ms, main thread ${median(oursT.main).toFixed(0)} ms`,
    )
    console.log(
      `  CPU per transfer, bare stream      ${median(bareT.cpu).toFixed(0)} ms, main thread ${median(bareT.main).toFixed(0)} ms`,
    )
    // The fetcher's main thread is the one part of a fetch that cannot spread over cores: where
    // the holder is another machine and the fetcher has a core for its other threads, it bounds
    // the rate. Here both ends share the cores, so the measured ratio above is the figure.
    console.log(
      `  main-thread bound, bare/ours       ${(median(bareT.main) / median(oursT.main)).toFixed(3)}` +
        '  (the ratio if only the fetcher main thread limited both)',
    )
    if (!onePlace) {
      console.log(
        `  holder CPU per transfer, ours      ${median(oursT.holder).toFixed(0)} ms, bare stream ${median(bareT.holder).toFixed(0)} ms`,
      )
    }
    console.log(`  target >= 100 MB/s: ${oursMBps >= 100 ? 'met' : 'NOT met'}`)
    const profileTo = process.env.PLUSONE_BENCH_PROFILE
    if (profileTo != null && profileTo !== '') {
      await profile(profileTo, runs, async () => {
        await fetchOnce()
        await storeB.delete(cid)
      })
      await profile(profileTo.replace(/(\.cpuprofile)?$/, '-bare.cpuprofile'), runs, async () =>
        bareStreamCopy(b, held, bytes.byteLength),
      )
      console.log(`  profiles: ${profileTo} and its -bare twin`)
    }
    await fetcher.stop()
  } finally {
    await held.stop()
    await b.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

if (holderRole) await holderMain()
else await main()
