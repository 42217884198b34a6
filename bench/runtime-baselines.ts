/**
 * The benchmark's baselines: the sha256 and Mandelbrot examples written again in plain
 * JavaScript and in C, with the same algorithms as examples/assembly/*.ts.
 */

const K = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
])

const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n))

function compress(H: Uint32Array, W: Uint32Array, block: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const j = off + i * 4
    W[i] = (block[j]! << 24) | (block[j + 1]! << 16) | (block[j + 2]! << 8) | block[j + 3]!
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15]!
    const w2 = W[i - 2]!
    const s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >>> 3)
    const s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >>> 10)
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0
  }
  let a = H[0]!
  let b = H[1]!
  let c = H[2]!
  let d = H[3]!
  let e = H[4]!
  let f = H[5]!
  let g = H[6]!
  let h = H[7]!
  for (let i = 0; i < 64; i++) {
    const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i]! + W[i]!) | 0
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b
    b = a
    a = (t1 + t2) | 0
  }
  H[0] = H[0]! + a
  H[1] = H[1]! + b
  H[2] = H[2]! + c
  H[3] = H[3]! + d
  H[4] = H[4]! + e
  H[5] = H[5]! + f
  H[6] = H[6]! + g
  H[7] = H[7]! + h
}

const IV = Uint32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
])

function sha256Into(
  msg: Uint8Array,
  out: Uint8Array,
  H: Uint32Array,
  W: Uint32Array,
  scratch: Uint8Array,
): void {
  H.set(IV)
  const full = msg.length & ~63
  for (let off = 0; off < full; off += 64) compress(H, W, msg, off)
  const rest = msg.length - full
  scratch.fill(0)
  scratch.set(msg.subarray(full), 0)
  scratch[rest] = 0x80
  const padded = rest < 56 ? 64 : 128
  const bits = msg.length * 8
  const dv = new DataView(scratch.buffer)
  dv.setUint32(padded - 8, Math.floor(bits / 2 ** 32))
  dv.setUint32(padded - 4, bits >>> 0)
  compress(H, W, scratch, 0)
  if (padded === 128) compress(H, W, scratch, 64)
  const o = new DataView(out.buffer, out.byteOffset)
  for (let i = 0; i < 8; i++) o.setUint32(i * 4, H[i]!)
}

export function jsSha256Iterated(msg: Uint8Array, iterations: number): Uint8Array {
  const H = new Uint32Array(8)
  const W = new Uint32Array(64)
  const scratch = new Uint8Array(128)
  const digest = new Uint8Array(32)
  const tmp = new Uint8Array(32)
  sha256Into(msg, digest, H, W, scratch)
  for (let i = 1; i < iterations; i++) {
    tmp.set(digest)
    sha256Into(tmp, digest, H, W, scratch)
  }
  return digest
}

export function jsMandelbrot(
  width: number,
  height: number,
  tx: number,
  ty: number,
  tw: number,
  th: number,
  maxIter: number,
): Uint8Array {
  const out = new Uint8Array(tw * th)
  const scale = 3.0 / Math.min(width, height)
  for (let y = 0; y < th; y++) {
    const ci = (ty + y - height / 2.0) * scale
    for (let x = 0; x < tw; x++) {
      const cr = (tx + x - width * 0.65) * scale
      let zr = 0.0
      let zi = 0.0
      let i = 0
      while (i < maxIter) {
        const zr2 = zr * zr
        const zi2 = zi * zi
        if (zr2 + zi2 > 4.0) break
        zi = 2.0 * zr * zi + ci
        zr = zr2 - zi2 + cr
        i++
      }
      out[y * tw + x] = i === maxIter ? 0 : 255 - Math.trunc((i * 255) / maxIter)
    }
  }
  return out
}

const C_PRELUDE = `#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
`

export const SHA256_C = `${C_PRELUDE}
static const uint32_t K[64] = {${Array.from(K, (k) => `0x${k.toString(16)}u`).join(',')}};
#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
static void compress(uint32_t *H, const uint8_t *p) {
  uint32_t W[64];
  for (int i = 0; i < 16; i++) W[i] = (uint32_t)p[4*i] << 24 | (uint32_t)p[4*i+1] << 16 | (uint32_t)p[4*i+2] << 8 | p[4*i+3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROTR(W[i-15], 7) ^ ROTR(W[i-15], 18) ^ (W[i-15] >> 3);
    uint32_t s1 = ROTR(W[i-2], 17) ^ ROTR(W[i-2], 19) ^ (W[i-2] >> 10);
    W[i] = W[i-16] + s0 + W[i-7] + s1;
  }
  uint32_t a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i];
    uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
}
static void sha256(const uint8_t *msg, size_t len, uint8_t *out) {
  uint32_t H[8] = {0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19};
  uint8_t s[128];
  size_t full = len & ~(size_t)63;
  for (size_t o = 0; o < full; o += 64) compress(H, msg + o);
  size_t rest = len - full;
  memset(s, 0, sizeof s);
  memcpy(s, msg + full, rest);
  s[rest] = 0x80;
  size_t padded = rest < 56 ? 64 : 128;
  uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; i++) s[padded - 1 - i] = (uint8_t)(bits >> (8 * i));
  compress(H, s);
  if (padded == 128) compress(H, s + 64);
  for (int i = 0; i < 8; i++) { out[4*i] = H[i] >> 24; out[4*i+1] = H[i] >> 16; out[4*i+2] = H[i] >> 8; out[4*i+3] = H[i]; }
}
int main(int argc, char **argv) {
  long n = atol(argv[1]);
  uint8_t msg[32], d[32];
  memset(msg, 7, 32);
  double t = now_ms();
  sha256(msg, 32, d);
  for (long i = 1; i < n; i++) { memcpy(msg, d, 32); sha256(msg, 32, d); }
  double ms = now_ms() - t;
  printf("%f ", ms);
  for (int i = 0; i < 32; i++) printf("%02x", d[i]);
  printf("\\n");
  return 0;
}
`

export const MANDELBROT_C = `${C_PRELUDE}
int main(int argc, char **argv) {
  int w = atoi(argv[1]), h = atoi(argv[2]), maxIter = atoi(argv[3]);
  uint8_t *out = malloc((size_t)w * h);
  double t = now_ms();
  double scale = 3.0 / (w < h ? w : h);
  for (int y = 0; y < h; y++) {
    double ci = ((double)y - h / 2.0) * scale;
    for (int x = 0; x < w; x++) {
      double cr = ((double)x - w * 0.65) * scale, zr = 0, zi = 0;
      int i = 0;
      while (i < maxIter) {
        double zr2 = zr * zr, zi2 = zi * zi;
        if (zr2 + zi2 > 4.0) break;
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        i++;
      }
      out[y * w + x] = i == maxIter ? 0 : (uint8_t)(255 - (i * 255) / maxIter);
    }
  }
  double ms = now_ms() - t;
  unsigned long sum = 0;
  for (long i = 0; i < (long)w * h; i++) sum += out[i];
  printf("%f %lu\\n", ms, sum);
  return 0;
}
`

/** n-body (examples/assembly/nbody.ts): the energy before and after `steps` steps, as its text. */
export function jsNbody(steps: number): Uint8Array {
  const SOLAR_MASS = 4 * Math.PI * Math.PI
  const DPY = 365.24
  const b = [
    [0, 0, 0, 0, 0, 0, 1],
    [
      4.841431442464721, -1.1603200440274284, -0.10362204447112311, 0.001660076642744037,
      0.007699011184197404, -0.0000690460016972063, 0.0009547919384243266,
    ],
    [
      8.34336671824458, 4.124798564124305, -0.4035234171143214, -0.002767425107268624, 0.004998528012349172,
      0.000023041729757376393, 0.0002858859806661308,
    ],
    [
      12.894369562139131, -15.111151401698631, -0.22330757889265573, 0.002964601375647616,
      0.0023784717395948095, -0.000029658956854023756, 0.00004366244043351563,
    ],
    [
      15.379697114850917, -25.919314609987964, 0.17925877295037118, 0.0026806777249038932,
      0.001628241700382423, -0.00009515922545197159, 0.000051513890204661145,
    ],
  ]
  const n = b.length
  const x = new Float64Array(b.map((v) => v[0]!))
  const y = new Float64Array(b.map((v) => v[1]!))
  const z = new Float64Array(b.map((v) => v[2]!))
  const vx = new Float64Array(b.map((v) => v[3]! * DPY))
  const vy = new Float64Array(b.map((v) => v[4]! * DPY))
  const vz = new Float64Array(b.map((v) => v[5]! * DPY))
  const m = new Float64Array(b.map((v) => v[6]! * SOLAR_MASS))
  let px = 0
  let py = 0
  let pz = 0
  for (let i = 0; i < n; i++) {
    px += vx[i]! * m[i]!
    py += vy[i]! * m[i]!
    pz += vz[i]! * m[i]!
  }
  vx[0] = -px / SOLAR_MASS
  vy[0] = -py / SOLAR_MASS
  vz[0] = -pz / SOLAR_MASS
  const energy = () => {
    let e = 0
    for (let i = 0; i < n; i++) {
      e += 0.5 * m[i]! * (vx[i]! * vx[i]! + vy[i]! * vy[i]! + vz[i]! * vz[i]!)
      for (let j = i + 1; j < n; j++) {
        const dx = x[i]! - x[j]!
        const dy = y[i]! - y[j]!
        const dz = z[i]! - z[j]!
        e -= (m[i]! * m[j]!) / Math.sqrt(dx * dx + dy * dy + dz * dz)
      }
    }
    return e
  }
  const before = energy()
  const dt = 0.01
  for (let s = 0; s < steps; s++) {
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const dx = x[i]! - x[j]!
        const dy = y[i]! - y[j]!
        const dz = z[i]! - z[j]!
        const d2 = dx * dx + dy * dy + dz * dz
        const mag = dt / (d2 * Math.sqrt(d2))
        const mi = m[i]! * mag
        const mj = m[j]! * mag
        vx[i] = vx[i]! - dx * mj
        vy[i] = vy[i]! - dy * mj
        vz[i] = vz[i]! - dz * mj
        vx[j] = vx[j]! + dx * mi
        vy[j] = vy[j]! + dy * mi
        vz[j] = vz[j]! + dz * mi
      }
    }
    for (let i = 0; i < n; i++) {
      x[i] = x[i]! + dt * vx[i]!
      y[i] = y[i]! + dt * vy[i]!
      z[i] = z[i]! + dt * vz[i]!
    }
  }
  const fixed9 = (v: number) => {
    const scaled = Math.round(Math.abs(v) * 1e9)
    const frac = String(scaled % 1e9).padStart(9, '0')
    return `${v < 0 ? '-' : ''}${Math.floor(scaled / 1e9)}.${frac}`
  }
  return new TextEncoder().encode(`${fixed9(before)} ${fixed9(energy())}\n`)
}
