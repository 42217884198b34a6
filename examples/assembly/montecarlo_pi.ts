// Estimates pi by sampling points in the unit square with a PRNG (xoshiro256**) seeded from
// plusone.seed, so every replica of a task draws the same points.
// Input: text "samples" (default 1000000). Output: text "pi ~ <estimate> (<inside>/<samples>)".
import { parseInts, progress, readInput, seed, writeString } from './lib/plusone'

let s0: u64 = 0
let s1: u64 = 0
let s2: u64 = 0
let s3: u64 = 0

function next(): u64 {
  const result = rotl<u64>(s1 * 5, 7) * 9
  const t = s1 << 17
  s2 ^= s0
  s3 ^= s1
  s1 ^= s2
  s0 ^= s3
  s2 ^= t
  s3 = rotl<u64>(s3, 45)
  return result
}

/** A uniform double in [0, 1) from the top 53 bits. */
function uniform(): f64 {
  return <f64>(next() >> 11) * (1.0 / 9007199254740992.0)
}

export function run(): i32 {
  const samples = parseInts(readInput(), [1000000])[0]
  if (samples <= 0) return 2
  const st = new StaticArray<u64>(4)
  seed(changetype<usize>(st))
  s0 = st[0]
  s1 = st[1] | 1
  s2 = st[2]
  s3 = st[3]
  let inside: i64 = 0
  const step = max<i64>(samples / 100, 1)
  for (let i: i64 = 0; i < samples; i++) {
    const x = uniform()
    const y = uniform()
    if (x * x + y * y < 1.0) inside++
    if (i % step == 0) progress(<i32>((i * 1000) / samples))
  }
  const pi = (4.0 * <f64>inside) / <f64>samples
  writeString(`pi ~ ${pi} (${inside}/${samples})\n`)
  return 0
}
