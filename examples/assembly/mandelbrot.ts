// Renders one tile of the Mandelbrot set as 8-bit grey pixels (row-major).
// Input: text "width height tileX tileY tileW tileH maxIter" describing the full image and the tile
// (default "256 256 0 0 256 256 256"). Output: tileW * tileH bytes; 0 = inside the set.
import { parseInts, progress, readInput, writeBytes } from './lib/plusone'

export function run(): i32 {
  const a = parseInts(readInput(), [256, 256, 0, 0, 256, 256, 256])
  const width = <i32>a[0]
  const height = <i32>a[1]
  const tx = <i32>a[2]
  const ty = <i32>a[3]
  const tw = <i32>a[4]
  const th = <i32>a[5]
  const maxIter = <i32>a[6]
  if (width <= 0 || height <= 0 || tw <= 0 || th <= 0 || maxIter <= 0 || <i64>tw * th > 1 << 28) return 2
  const out = new Uint8Array(tw * th)
  const scale = 3.0 / <f64>min(width, height)
  for (let y = 0; y < th; y++) {
    const ci = (<f64>(ty + y) - <f64>height / 2.0) * scale
    for (let x = 0; x < tw; x++) {
      const cr = (<f64>(tx + x) - <f64>width * 0.65) * scale
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
      out[y * tw + x] = i == maxIter ? 0 : <u8>(255 - ((i * 255) / maxIter))
    }
    progress(((y + 1) * 1000) / th)
  }
  writeBytes(out)
  return 0
}
