#!/usr/bin/env node
/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package or
 * file, so a profile can be read without a flame-graph viewer.
 *
 *   node scripts/cpuprofile.mjs PROFILE.cpuprofile [top=25]
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
