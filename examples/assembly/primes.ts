// Counts the primes in [lo, hi) with a segmented sieve.
// Input: text "lo hi" (default "0 1000000"). Output: text "primes in [lo, hi): count, sum, largest".
import { parseInts, progress, readInput, writeString } from './lib/plusone'

export function run(): i32 {
  const args = parseInts(readInput(), [0, 1000000])
  const lo = <u64>max<i64>(args[0], 0)
  const hi = <u64>max<i64>(args[1], <i64>lo)
  if (hi - lo > 1 << 30) return 2
  let root: u64 = <u64>Math.sqrt(<f64>hi) + 1
  while (root * root > hi && root > 0) root--
  const small = new StaticArray<bool>(<i32>root + 1)
  for (let i: u64 = 2; i * i <= root; i++) {
    if (!small[<i32>i]) for (let j = i * i; j <= root; j += i) small[<i32>j] = true
  }
  const span = <i32>(hi - lo)
  const composite = new StaticArray<bool>(span)
  for (let p: u64 = 2; p <= root; p++) {
    if (small[<i32>p]) continue
    let start = max<u64>(p * p, ((lo + p - 1) / p) * p)
    for (let j = start; j < hi; j += p) composite[<i32>(j - lo)] = true
  }
  let count: u64 = 0
  let sum: u64 = 0
  let largest: u64 = 0
  const step = max<i32>(span / 10, 1)
  for (let i = 0; i < span; i++) {
    const n = lo + <u64>i
    if (n >= 2 && !composite[i]) {
      count++
      sum += n
      largest = n
    }
    if (i % step == 0) progress(<i32>((<i64>i * 1000) / max<i64>(span, 1)))
  }
  writeString(`primes in [${lo}, ${hi}): ${count}, sum ${sum}, largest ${largest}\n`)
  return 0
}
