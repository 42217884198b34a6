/**
 * Where the rewriter canonicalises NaNs (see meter.ts).
 *
 * WebAssembly leaves open only the sign and payload of a NaN *produced by arithmetic*; x86 and
 * ARM (and V8's two compiler tiers) produce different ones. Every other operator — neg, abs,
 * copysign, reinterpret, loads, stores, constants, locals, globals, calls — is bit-exact. So the
 * rewriter replaces an arithmetic NaN result by the canonical NaN (positive, quiet, zero
 * payload), as wasmtime's deterministic mode does, and touches nothing else.
 *
 * It skips the replacement where the NaN's bits can never be seen. A raw (not yet canonical)
 * NaN may only be consumed by an instruction that ignores NaN bits: another arithmetic operation
 * (whose result is in turn canonicalised or consumed the same way), a comparison, a float-to-int
 * truncation, drop — or a write to an "arithmetic-only" local, one whose every read is consumed
 * that way. The consumer is found by following the operand stack through the next instructions
 * of the same straight-line run (a short, bounded look-ahead); anything else (a branch, a call,
 * a store, select, an unknown case) gets the canonical NaN. By induction every bit-sensitive
 * instruction sees either an exact value or a canonical NaN, on every CPU. In Mandelbrot's inner
 * loop this leaves no replacement at all.
 */
import { Reader } from './binary.js'
import { VALTYPE_F32, VALTYPE_F64 } from './features.js'
import { readBlockType } from './meter-support.js'
import type { FuncType } from './parse.js'

/** The result type (f32/f64) of each float operation whose NaN result is not deterministic; 0 otherwise. */
export const NAN_RESULT: Uint8Array = (() => {
  const t = new Uint8Array(256)
  t.fill(VALTYPE_F32, 0x8d, 0x97 + 1) // f32 ceil floor trunc nearest sqrt add sub mul div min max
  t.fill(VALTYPE_F64, 0x9b, 0xa5 + 1) // f64 the same
  t[0xb6] = VALTYPE_F32 // f32.demote_f64
  t[0xbb] = VALTYPE_F64 // f64.promote_f32
  return t
})()

/** Single-byte instructions whose result does not depend on the bits of a NaN operand. */
const IGNORES_NAN_BITS: Uint8Array = (() => {
  const t = NAN_RESULT.map((v) => (v === 0 ? 0 : 1))
  t.fill(1, 0x5b, 0x66 + 1) // f32/f64 eq ne lt gt le ge
  t.fill(1, 0xa8, 0xb1 + 1) // i32/i64.trunc_f32/f64_s/u (trap on any NaN)
  t[0x1a] = 1 // drop
  return t
})()

const STOP = 255
/** Operands popped by straight-line single-byte instructions; STOP for control flow, calls and the rest. */
const POPS: Uint8Array = (() => {
  const t = new Uint8Array(256).fill(STOP)
  const set = (from: number, to: number, v: number) => t.fill(v, from, to + 1)
  set(0x1a, 0x1a, 1) // drop
  set(0x1b, 0x1b, 3) // select
  set(0x20, 0x20, 0)
  set(0x21, 0x22, 1) // local.set, local.tee
  set(0x23, 0x23, 0)
  set(0x24, 0x24, 1)
  set(0x28, 0x35, 1) // loads
  set(0x36, 0x3e, 2) // stores
  set(0x3f, 0x3f, 0) // memory.size
  set(0x41, 0x44, 0) // constants
  set(0x45, 0xc4, 2) // numeric: binary by default, unary below
  for (const [from, to] of [
    [0x45, 0x45],
    [0x50, 0x50],
    [0x67, 0x69],
    [0x79, 0x7b],
    [0x8b, 0x91],
    [0x99, 0x9f],
    [0xa7, 0xc4],
  ] as const)
    set(from, to, 1)
  return t
})()
/** Operands pushed by the instructions POPS covers. */
const PUSHES: Uint8Array = (() => {
  const t = new Uint8Array(256).fill(1)
  for (const op of [0x1a, 0x21, 0x24]) t[op] = 0
  t.fill(0, 0x36, 0x3e + 1)
  return t
})()

/** Instructions followed through by the look-ahead; beyond it a NaN is canonicalised. */
const LOOKAHEAD = 32

/** Skips the immediates of a straight-line instruction (those POPS covers). */
function skipStraight(op: number, r: Reader): void {
  if (op >= 0x20 && op <= 0x24) r.u32()
  else if (op >= 0x28 && op <= 0x3e) {
    r.u32()
    r.u32()
  } else if (op === 0x3f) r.u8()
  else if (op === 0x41) r.skipSigned(32)
  else if (op === 0x42) r.skipSigned(64)
  else if (op === 0x43) r.skip(4)
  else if (op === 0x44) r.skip(8)
}

/**
 * Whether the value on top of the stack just before `pos` is consumed by an instruction that
 * ignores NaN bits. `arithmeticOnly` says which locals may hold a raw NaN; without it a write to
 * a local counts as bit-sensitive.
 */
export function ignoresNanBits(
  bytes: Uint8Array,
  pos: number,
  end: number,
  arithmeticOnly?: (local: number) => boolean,
): boolean {
  const r = new Reader(bytes, pos, end)
  let depth = 1 // our value's position from the top of the stack
  try {
    for (let n = 0; n < LOOKAHEAD; n++) {
      const op = r.u8()
      if (op === 0xfc) return depth === 1 && r.u32() <= 7 // trunc_sat: NaN -> 0
      const pops = POPS[op]!
      if (pops === STOP) return false
      if (pops >= depth) {
        if (IGNORES_NAN_BITS[op]) return true
        if (op === 0x21) return arithmeticOnly?.(r.u32()) ?? false
        if (op === 0x22 && arithmeticOnly?.(r.u32())) {
          depth = 1 // the copy local.tee leaves must be consumed the same way
          continue
        }
        return false
      }
      skipStraight(op, r)
      depth += PUSHES[op]! - pops
    }
  } catch {
    // malformed: the rewriter reports it
  }
  return false
}

/**
 * The locals of a body (from just after its local declarations) that some read consumes
 * bit-sensitively; every other local may hold a raw NaN. Undefined if the body could not be
 * walked (then no local may).
 */
export function bitSensitiveLocals(
  bytes: Uint8Array,
  pos: number,
  end: number,
  types: readonly FuncType[],
): Set<number> | undefined {
  const sensitive = new Set<number>()
  const r = new Reader(bytes, pos, end)
  try {
    while (r.pos < r.end) {
      const op = r.u8()
      if (op === 0x20) {
        const local = r.u32()
        if (!sensitive.has(local) && !ignoresNanBits(bytes, r.pos, end)) sensitive.add(local)
      } else if (POPS[op] !== STOP) skipStraight(op, r)
      else skipControl(op, r, types)
    }
  } catch {
    return undefined
  }
  return sensitive
}

/** Skips the immediates of everything POPS does not cover; throws on an opcode it does not know. */
function skipControl(op: number, r: Reader, types: readonly FuncType[]): void {
  if (op === 0x02 || op === 0x03 || op === 0x04) readBlockType(r, types)
  else if (op === 0x0c || op === 0x0d || op === 0x10) r.u32()
  else if (op === 0x0e) {
    const n = r.u32()
    if (n > r.end - r.pos) r.fail('br_table longer than its body')
    for (let i = 0; i <= n; i++) r.u32()
  } else if (op === 0x11) {
    r.u32()
    r.u32()
  } else if (op === 0x1c) {
    const n = r.u32()
    r.skip(n)
  } else if (op === 0x40) r.u8()
  else if (op === 0xfc) {
    const sub = r.u32()
    if (sub === 8 || sub === 12 || sub === 14) {
      r.u32()
      r.u32()
    } else if (sub === 9 || sub === 13) r.u32()
    else if (sub === 10) r.skip(2)
    else if (sub === 11) r.u8()
    else if (sub > 7) r.fail('unknown 0xfc instruction')
  } else if (!(op <= 0x01 || op === 0x05 || op === 0x0b || op === 0x0f)) r.fail('unknown instruction')
}
