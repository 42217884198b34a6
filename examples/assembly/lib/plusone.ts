// The plusone host ABI for AssemblyScript tasks, plus small input/output helpers.
// A task exports `run(): i32` (0 = ok) and its memory; it may import only these functions.

// @ts-ignore: decorator
@external("plusone", "input_len")
export declare function input_len(): i32
// @ts-ignore: decorator
@external("plusone", "input_read")
export declare function input_read(dst: usize, offset: i32, len: i32): i32
// @ts-ignore: decorator
@external("plusone", "output_write")
export declare function output_write(src: usize, len: i32): void
// @ts-ignore: decorator
@external("plusone", "seed")
export declare function seed(dst: usize): void
// @ts-ignore: decorator
@external("plusone", "progress")
export declare function progress(permille: i32): void

/** The whole task input. */
export function readInput(): Uint8Array {
  const n = input_len()
  const buf = new Uint8Array(n)
  input_read(buf.dataStart, 0, n)
  return buf
}

export function writeBytes(b: Uint8Array): void {
  output_write(b.dataStart, b.length)
}

export function writeString(s: string): void {
  const b = String.UTF8.encode(s)
  output_write(changetype<usize>(b), b.byteLength)
}

/** Whitespace-separated decimal integers from a text input; missing ones take their default. */
export function parseInts(input: Uint8Array, defaults: i64[]): i64[] {
  const out = defaults.slice(0)
  let idx = 0
  let i = 0
  while (i < input.length && idx < out.length) {
    while (i < input.length && (input[i] == 32 || input[i] == 10 || input[i] == 13 || input[i] == 9 || input[i] == 44)) i++
    if (i >= input.length) break
    let neg = false
    if (input[i] == 45) {
      neg = true
      i++
    }
    let v: i64 = 0
    let digits = 0
    while (i < input.length && input[i] >= 48 && input[i] <= 57) {
      v = v * 10 + <i64>(input[i] - 48)
      i++
      digits++
    }
    if (digits == 0) break
    out[idx++] = neg ? -v : v
  }
  return out
}
