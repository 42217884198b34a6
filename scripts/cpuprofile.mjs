#!/usr/bin/env node
/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package or
 * file, so a profile can be read without a flame-graph viewer.
 *
 *   node scripts/cpuprofile.mjs PROFILE.cpuprofile [top=25] [--owners]
 *
 * `--owners` adds a third table: each sample charged to the innermost frame on its stack that
 * belongs to one of our folders (src/ledger, src/market ...) or a libp2p service (gossipsub,
 * kad-dht, peer store, ping/identify), so work done on a service's behalf in the stream stack below
 * it (noise, yamux, tcp writes) counts as that service's; what no owner called is the read path.
 */
import { readFileSync } from 'node:fs'

const args = process.argv.slice(2)
const file = args.find((a) => a.endsWith('.cpuprofile'))
const topArg = args.find((a) => /^\d+$/.test(a))
if (file == null) {
  console.error('usage: node scripts/cpuprofile.mjs PROFILE.cpuprofile [top]')
  process.exit(1)
}
const top = Number(topArg ?? 25)
const owners = args.includes('--owners')
const profile = JSON.parse(readFileSync(file, 'utf8'))
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const selfUs = new Map()
const deltas = profile.timeDeltas
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]
  selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i] ?? 0))
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0)

/** A package name (node_modules/@scope/name), our file (src/..., dist/...), or a V8 category. */
function where(frame) {
  const url = frame.url ?? ''
  if (url === '') return `(${frame.functionName || 'native'})`
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  if (url.startsWith('node:')) return url
  const m = url.match(/\/(src|bench|test)\/(.*)$/)
  return m == null ? url : `${m[1]}/${m[2]}`
}

const byFunction = new Map()
const byPlace = new Map()
for (const [id, us] of selfUs) {
  const { callFrame } = byId.get(id)
  const place = where(callFrame)
  const fn = `${callFrame.functionName || '(anonymous)'}  ${place}:${callFrame.lineNumber + 1}`
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us)
  byPlace.set(place, (byPlace.get(place) ?? 0) + us)
}

const print = (title, map) => {
  console.log(`\n${title}`)
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(
      `${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`,
    )
  }
}
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`)
print('self time by package / file', byPlace)
print('self time by function', byFunction)

if (owners) {
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  /** The owner a frame belongs to, or undefined. */
  const ownerOf = (frame) => {
    const url = frame.url ?? ''
    if (frame.functionName === '(idle)') return '(idle)'
    if (frame.functionName === '(garbage collector)') return '(garbage collector)'
    if (url.startsWith('node:inspector') || url.includes('/bench/profile.')) return '(profiler)'
    const ours = url.match(/\/src\/([a-z-]+)\//)
    if (ours != null && !url.includes('node_modules/')) return `src/${ours[1]}`
    for (const pkg of ['gossipsub', 'kad-dht', 'peer-store', 'ping', 'identify']) {
      if (url.includes(`node_modules/@libp2p/${pkg}/`)) return `@libp2p/${pkg}`
    }
    return undefined
  }
  const byOwner = new Map()
  for (const [id, us] of selfUs) {
    let owner
    for (let cur = id; cur != null && owner === undefined; cur = parent.get(cur))
      owner = ownerOf(byId.get(cur).callFrame)
    owner ??= '(stream read path: tcp, noise, yamux; no owner above)'
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + us)
  }
  print('self time by owner (innermost of our folders or a libp2p service on the stack)', byOwner)
}
