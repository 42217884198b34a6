// Iterated SHA-256: h = sha256(message), then h = sha256(h) for the remaining iterations.
// Input: 4 bytes little-endian iteration count, then the message. Shorter input: the whole input is
// the message and the count is 1000. Output: the final 32-byte digest.
import { input_len, input_read, output_write, progress } from './lib/plusone'

const K: StaticArray<u32> = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]

const H = new StaticArray<u32>(8)
const W = new StaticArray<u32>(64)

function compress(block: usize): void {
  for (let i = 0; i < 16; i++) unchecked((W[i] = bswap<u32>(load<u32>(block + (<usize>i << 2)))))
  for (let i = 16; i < 64; i++) {
    const w15 = unchecked(W[i - 15])
    const w2 = unchecked(W[i - 2])
    const s0 = rotr<u32>(w15, 7) ^ rotr<u32>(w15, 18) ^ (w15 >>> 3)
    const s1 = rotr<u32>(w2, 17) ^ rotr<u32>(w2, 19) ^ (w2 >>> 10)
    unchecked((W[i] = unchecked(W[i - 16]) + s0 + unchecked(W[i - 7]) + s1))
  }
  let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7]
  for (let i = 0; i < 64; i++) {
    const t1 = h + (rotr<u32>(e, 6) ^ rotr<u32>(e, 11) ^ rotr<u32>(e, 25)) + ((e & f) ^ (~e & g)) + unchecked(K[i]) + unchecked(W[i])
    const t2 = (rotr<u32>(a, 2) ^ rotr<u32>(a, 13) ^ rotr<u32>(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))
    h = g
    g = f
    f = e
    e = d + t1
    d = c
    c = b
    b = a
    a = t1 + t2
  }
  H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h
}

/** sha256 of len bytes at src into dst (32 bytes, may equal src); scratch holds 128 bytes. */
function sha256(src: usize, len: usize, dst: usize, scratch: usize): void {
  H[0] = 0x6a09e667; H[1] = 0xbb67ae85; H[2] = 0x3c6ef372; H[3] = 0xa54ff53a
  H[4] = 0x510e527f; H[5] = 0x9b05688c; H[6] = 0x1f83d9ab; H[7] = 0x5be0cd19
  const full = len & ~(<usize>63)
  for (let off: usize = 0; off < full; off += 64) compress(src + off)
  const rest = len - full
  memory.copy(scratch, src + full, rest)
  store<u8>(scratch + rest, 0x80)
  const padded: usize = rest < 56 ? 64 : 128
  memory.fill(scratch + rest + 1, 0, padded - rest - 1)
  store<u64>(scratch + padded - 8, bswap<u64>(<u64>len << 3))
  compress(scratch)
  if (padded == 128) compress(scratch + 64)
  for (let i = 0; i < 8; i++) store<u32>(dst + (<usize>i << 2), bswap<u32>(H[i]))
}

export function run(): i32 {
  const n = input_len()
  const input = new Uint8Array(n)
  input_read(input.dataStart, 0, n)
  let iterations: u32 = 1000
  let msg = input.dataStart
  let len = <usize>n
  if (n >= 4) {
    iterations = load<u32>(input.dataStart)
    msg += 4
    len -= 4
  }
  const scratch = new Uint8Array(128)
  const digest = new Uint8Array(32)
  if (iterations == 0) {
    output_write(digest.dataStart, 0)
    return 0
  }
  sha256(msg, len, digest.dataStart, scratch.dataStart)
  const step = max<u32>(iterations / 100, 1)
  for (let i: u32 = 1; i < iterations; i++) {
    sha256(digest.dataStart, 32, digest.dataStart, scratch.dataStart)
    if (i % step == 0) progress(<i32>((<u64>i * 1000) / iterations))
  }
  output_write(digest.dataStart, 32)
  return 0
}
