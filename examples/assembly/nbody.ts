// The n-body simulation of the Computer Language Benchmarks Game (Jovian planets, symplectic
// integrator): a float-heavy kernel (array accesses unchecked, as performance-minded
// AssemblyScript writes them). Input: text "steps" (default 100000). Output: text, the
// system's energy before and after, "-0.169075164 -0.169059907".
import { parseInts, readInput, writeString } from './lib/plusone'

const PI = 3.141592653589793
const SOLAR_MASS = 4 * PI * PI
const DAYS_PER_YEAR = 365.24
const N = 5

const x = new StaticArray<f64>(N)
const y = new StaticArray<f64>(N)
const z = new StaticArray<f64>(N)
const vx = new StaticArray<f64>(N)
const vy = new StaticArray<f64>(N)
const vz = new StaticArray<f64>(N)
const mass = new StaticArray<f64>(N)

function body(i: i32, px: f64, py: f64, pz: f64, qx: f64, qy: f64, qz: f64, m: f64): void {
  x[i] = px
  y[i] = py
  z[i] = pz
  vx[i] = qx * DAYS_PER_YEAR
  vy[i] = qy * DAYS_PER_YEAR
  vz[i] = qz * DAYS_PER_YEAR
  mass[i] = m * SOLAR_MASS
}

function init(): void {
  body(0, 0, 0, 0, 0, 0, 0, 1)
  body(1, 4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
    1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05, 9.54791938424326609e-04)
  body(2, 8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
    -2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05, 2.85885980666130812e-04)
  body(3, 1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
    2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05, 4.36624404335156298e-05)
  body(4, 1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
    2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05, 5.15138902046611451e-05)
  let px: f64 = 0
  let py: f64 = 0
  let pz: f64 = 0
  for (let i = 0; i < N; i++) {
    px += vx[i] * mass[i]
    py += vy[i] * mass[i]
    pz += vz[i] * mass[i]
  }
  vx[0] = -px / SOLAR_MASS
  vy[0] = -py / SOLAR_MASS
  vz[0] = -pz / SOLAR_MASS
}

function advance(dt: f64): void {
  for (let i = 0; i < N; i++) {
    for (let j = i + 1; j < N; j++) {
      const dx = unchecked(x[i]) - unchecked(x[j])
      const dy = unchecked(y[i]) - unchecked(y[j])
      const dz = unchecked(z[i]) - unchecked(z[j])
      const d2 = dx * dx + dy * dy + dz * dz
      const mag = dt / (d2 * Math.sqrt(d2))
      const mi = unchecked(mass[i]) * mag
      const mj = unchecked(mass[j]) * mag
      unchecked(vx[i] = unchecked(vx[i]) - (dx * mj))
      unchecked(vy[i] = unchecked(vy[i]) - (dy * mj))
      unchecked(vz[i] = unchecked(vz[i]) - (dz * mj))
      unchecked(vx[j] = unchecked(vx[j]) + (dx * mi))
      unchecked(vy[j] = unchecked(vy[j]) + (dy * mi))
      unchecked(vz[j] = unchecked(vz[j]) + (dz * mi))
    }
  }
  for (let i = 0; i < N; i++) {
    unchecked(x[i] = unchecked(x[i]) + (dt * unchecked(vx[i])))
    unchecked(y[i] = unchecked(y[i]) + (dt * unchecked(vy[i])))
    unchecked(z[i] = unchecked(z[i]) + (dt * unchecked(vz[i])))
  }
}

function energy(): f64 {
  let e: f64 = 0
  for (let i = 0; i < N; i++) {
    e += 0.5 * unchecked(mass[i]) * (vx[i] * unchecked(vx[i]) + unchecked(vy[i]) * unchecked(vy[i]) + unchecked(vz[i]) * unchecked(vz[i]))
    for (let j = i + 1; j < N; j++) {
      const dx = unchecked(x[i]) - unchecked(x[j])
      const dy = unchecked(y[i]) - unchecked(y[j])
      const dz = unchecked(z[i]) - unchecked(z[j])
      e -= (mass[i] * unchecked(mass[j])) / Math.sqrt(dx * dx + dy * dy + dz * dz)
    }
  }
  return e
}

/** Nine decimals, as the benchmark prints them. */
function fixed9(v: f64): string {
  const neg = v < 0
  const scaled = <i64>Math.round(Math.abs(v) * 1e9)
  const frac = (scaled % 1000000000).toString()
  return `${neg ? '-' : ''}${scaled / 1000000000}.${'0'.repeat(9 - frac.length)}${frac}`
}

export function run(): i32 {
  const steps = <i32>parseInts(readInput(), [100000])[0]
  if (steps < 0) return 2
  init()
  const before = energy()
  for (let s = 0; s < steps; s++) advance(0.01)
  writeString(`${fixed9(before)} ${fixed9(energy())}\n`)
  return 0
}
