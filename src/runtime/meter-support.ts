/**
 * Pieces of the metering rewriter (see meter.ts): its constants, the types and helper functions
 * it appends to a module, and the pre-pass that finds pure leaf functions.
 */
import { type Reader, Writer } from './binary.js'
import { isNumericValtype, VALTYPE_I32, VALTYPE_I64, valtypeProblem } from './features.js'
import { InvalidModuleError, type ParsedModule } from './parse.js'

/** Virtual stack bytes available to a task's call chain. Workers get 8× this as a real stack. */
export const STACK_BUDGET_BYTES = 2 * 1024 * 1024
/**
 * Fuel per 64 KiB page obtained with memory.grow: the engine zero-fills it when it is touched,
 * priced like memory.fill (64 KiB / BYTES_PER_FUEL).
 */
export const FUEL_PER_GROWN_PAGE = 16_384
/** Fuel per memory.grow, granted or refused (a refused one costs V8 a few nanoseconds). */
export const FUEL_PER_GROW = 100
/**
 * Fuel per page the memory already has, for a granted memory.grow: in V8 a grow costs time in
 * proportion to the memory's size (it reports the new external memory, which can set off a
 * garbage collection — 70 µs per grow near 64 MiB, 550 µs near 250 MiB; bench/runtime.ts,
 * the "grow" rows). An allocator that doubles pays about twice the final size once; one that
 * grows a page at a time pays quadratically, as it costs.
 */
export const FUEL_PER_GROW_PER_PAGE_HELD = 4096
/**
 * memory.fill/copy/init and the host copies (input_read, output_write) charge one fuel per this
 * many bytes, before they copy: copying 4 bytes costs about what one instruction does.
 */
export const BYTES_PER_FUEL = 4
const BULK_BYTES_PER_FUEL_SHIFT = Math.log2(BYTES_PER_FUEL)
/**
 * Fuel for a call that enters a metered function (`call` of a non-leaf, `call_indirect`): the
 * callee's prologue and epilogue (stack budget, fuel write-back) cost about this many
 * instructions. An indirect call adds CALL_INDIRECT_FUEL for the table and signature checks.
 */
export const CALL_FUEL = 16
export const CALL_INDIRECT_FUEL = 32
/** flags global bit: the last memory.grow was refused (cleared by a granted one). */
export const FLAG_OUT_OF_MEMORY = 1

export interface MeterGlobals {
  fuel: number
  stack: number
  flags: number
  maxPages: number
}

/**
 * Types the rewriter adds (for helpers and multi-value wrapper blocks), appended after the
 * module's own. Wrapper types are keyed by the function's type index, so the work per function
 * is constant however many results its type has (a key built from the result list would cost
 * results × functions).
 */
export class TypeTable {
  readonly added: { params: number[]; results: number[] }[] = []
  private readonly wrappers = new Map<number, number>()
  private readonly helpers = new Map<string, number>()
  constructor(private readonly base: number) {}

  /** The type `() -> results` of a block wrapping a body of type `typeIdx`. */
  resultsOf(typeIdx: number, results: number[]): number {
    let idx = this.wrappers.get(typeIdx)
    if (idx === undefined) {
      idx = this.add([], results)
      this.wrappers.set(typeIdx, idx)
    }
    return idx
  }

  /** A helper's type; `key` names the signature (helpers have a handful of fixed ones). */
  helper(key: string, params: number[], results: number[]): number {
    let idx = this.helpers.get(key)
    if (idx === undefined) {
      idx = this.add(params, results)
      this.helpers.set(key, idx)
    }
    return idx
  }

  private add(params: number[], results: number[]): number {
    this.added.push({ params, results })
    return this.base + this.added.length - 1
  }
}

/** Helper functions the rewriter adds after the module's own functions. */
export class Helpers {
  readonly added: { typeIdx: number; body: Uint8Array }[] = []
  private readonly byKey = new Map<string, number>()
  constructor(
    private readonly base: number,
    private readonly types: TypeTable,
    private readonly g: MeterGlobals,
  ) {}

  private make(key: string, params: number[], results: number[], body: (w: Writer) => void): number {
    let idx = this.byKey.get(key)
    if (idx !== undefined) return idx
    idx = this.base + this.added.length
    const w = new Writer(64)
    body(w)
    const signature = `${params.join(',')}:${results.join(',')}`
    this.added.push({ typeIdx: this.types.helper(signature, params, results), body: w.result() })
    this.byKey.set(key, idx)
    return idx
  }

  /** (dst, src|value, len) -> (): charge len >> shift, then run the bulk operation `op`. */
  bulk(key: string, op: number[]): number {
    const I = VALTYPE_I32
    return this.make(key, [I, I, I], [], (w) => {
      w.bytes(Uint8Array.of(1, 1, VALTYPE_I64)) // one i64 local, index 3
      w.bytes(
        Uint8Array.of(0x23, ...leb(this.g.fuel), 0x20, 2, 0x41, BULK_BYTES_PER_FUEL_SHIFT, 0x76, 0xad, 0x7d),
      )
      emitFuelCheckTail(w, this.g.fuel, 3)
      w.bytes(Uint8Array.of(0x20, 0, 0x20, 1, 0x20, 2, ...op, 0x0b))
    })
  }

  /**
   * (delta) -> old pages, or -1: memory.grow as WebAssembly defines it (the memory's maximum is
   * the smaller of the declared one and the task's limit, so past either it returns -1). It
   * charges FUEL_PER_GROW, then — only for a grow within the maximum — FUEL_PER_GROWN_PAGE per
   * new page and FUEL_PER_GROW_PER_PAGE_HELD per page already held, before growing. A refusal sets FLAG_OUT_OF_MEMORY, so a trap that follows is reported
   * as out_of_memory; a granted grow clears it.
   */
  grow(): number {
    return this.make('grow', [VALTYPE_I32], [VALTYPE_I32], (w) => {
      w.bytes(Uint8Array.of(2, 1, VALTYPE_I64, 1, VALTYPE_I32)) // locals: 1 i64 (idx 1), 1 i32 (idx 2)
      const flags = leb(this.g.flags)
      const fuel = leb(this.g.fuel)
      /** delta * FUEL_PER_GROWN_PAGE, as i64 */
      const pages = () => {
        w.bytes(Uint8Array.of(0x20, 0, 0xad, 0x42))
        w.s64(FUEL_PER_GROWN_PAGE)
        w.byte(0x7e)
      }
      const refuse = () => {
        w.bytes(Uint8Array.of(0x41, FLAG_OUT_OF_MEMORY, 0x24, ...flags, 0x41, 0x7f, 0x0f, 0x0b))
      }
      // fuel -= FUEL_PER_GROW; trap if negative
      w.bytes(Uint8Array.of(0x23, ...fuel, 0x42))
      w.s64(FUEL_PER_GROW)
      w.byte(0x7d)
      emitFuelCheckTail(w, this.g.fuel, 1)
      // if delta >u maxPages - memory.size: refuse
      w.bytes(Uint8Array.of(0x20, 0, 0x23, ...leb(this.g.maxPages), 0x3f, 0, 0x6b, 0x4b, 0x04, 0x40))
      refuse()
      // fuel -= pages + memory.size * FUEL_PER_GROW_PER_PAGE_HELD; trap if negative
      w.bytes(Uint8Array.of(0x23, ...fuel))
      pages()
      w.bytes(Uint8Array.of(0x3f, 0, 0xad, 0x42))
      w.s64(FUEL_PER_GROW_PER_PAGE_HELD)
      w.bytes(Uint8Array.of(0x7e, 0x7c, 0x7d))
      emitFuelCheckTail(w, this.g.fuel, 1)
      // local.get 0; memory.grow; local.tee 2; i32.const -1; i32.eq; if (the engine refused)
      w.bytes(Uint8Array.of(0x20, 0, 0x40, 0, 0x22, 2, 0x41, 0x7f, 0x46, 0x04, 0x40))
      // refused: fuel += pages; flags = 1; return -1
      w.bytes(Uint8Array.of(0x23, ...fuel))
      pages()
      w.bytes(Uint8Array.of(0x7c, 0x24, ...fuel))
      refuse()
      w.bytes(Uint8Array.of(0x41, 0, 0x24, ...flags, 0x20, 2, 0x0b)) // flags = 0; old size
    })
  }
}

export function leb(v: number): number[] {
  const out: number[] = []
  let x = v >>> 0
  do {
    let b = x & 0x7f
    x >>>= 7
    if (x !== 0) b |= 0x80
    out.push(b)
  } while (x !== 0)
  return out
}

/** After `fuel - cost` is on the stack: local.tee t; global.set fuel; trap if t < 0. */
export function emitFuelCheckTail(w: Writer, fuel: number, tmp: number): void {
  w.bytes(
    Uint8Array.of(
      0x22,
      ...leb(tmp),
      0x24,
      ...leb(fuel),
      0x20,
      ...leb(tmp),
      0x42,
      0,
      0x53,
      0x04,
      0x40,
      0x00,
      0x0b,
    ),
  )
}

/** Unmetered leaves have at most this many locals and instructions (so a frame under ~100 KiB). */
const MAX_LEAF_LOCALS = 1024
const MAX_LEAF_INSTRUCTIONS = 8192

/**
 * Host functions that do not touch the fuel global, so leaves calling them stay unmetered: only
 * abort, which ends the task (AssemblyScript's bounds checks in small getters call it). The
 * others charge their fee when called, so their callers are metered functions.
 */
const FUEL_NEUTRAL_IMPORTS = new Set(['env.abort'])

/** What the pre-pass learns about a pure leaf: its instruction count (host calls included). */
export interface Leaf {
  cost: number
  /** It calls a host function (which may trap): its caller writes its fuel back first. */
  callsHost: boolean
}

/** A pure leaf's cost, or undefined if it has loops, calls or memory.grow/bulk operations. */
export function scanLeaf(m: ParsedModule, b: Reader): Leaf | undefined {
  const groups = b.u32()
  let locals = 0
  for (let i = 0; i < groups; i++) {
    locals += b.u32()
    b.u8()
  }
  // Leaves skip the stack budget, so their frames must be small: bound locals and size.
  if (locals > MAX_LEAF_LOCALS) return undefined
  let depth = 0
  let cost = 0
  let callsHost = false
  for (;;) {
    const op = b.u8()
    if (++cost > MAX_LEAF_INSTRUCTIONS) return undefined
    if (op === 0x02 || op === 0x04) {
      readBlockType(b, m.types)
      depth++
    } else if (op === 0x0b) {
      if (depth-- === 0) return { cost, callsHost }
    } else if (op === 0x10) {
      // host functions that neither charge fuel nor call back may be called from a leaf
      if (!FUEL_NEUTRAL_IMPORTS.has(m.importNames[b.u32()] ?? '')) return undefined
      callsHost = true
    } else if (op === 0x03 || op === 0x11 || op === 0x40) {
      return undefined
    } else if (op === 0x0c || op === 0x0d || (op >= 0x20 && op <= 0x24) || op === 0x3f) {
      b.u32()
    } else if (op === 0x0e) {
      const n = b.u32()
      if (n > b.end - b.pos) return undefined
      for (let i = 0; i <= n; i++) b.u32()
    } else if (op === 0x1c) {
      b.u32()
      b.u8()
    } else if (op >= 0x28 && op <= 0x3e) {
      b.u32()
      b.u32()
    } else if (op === 0x41) b.skipSigned(32)
    else if (op === 0x42) b.skipSigned(64)
    else if (op === 0x43) b.skip(4)
    else if (op === 0x44) b.skip(8)
    else if (op === 0xfc) {
      const sub = b.u32()
      if (sub === 9 || sub === 13) b.u32()
      else if (sub > 7) return undefined
    } else if (
      !(op <= 0x01 || op === 0x05 || op === 0x0f || op === 0x1a || op === 0x1b || (op >= 0x45 && op <= 0xc4))
    )
      return undefined
  }
}

/** Reads a block type; returns its arity packed as `params << 16 | results`. */
export function readBlockType(b: Reader, types: readonly { params: number[]; results: number[] }[]): number {
  const first = b.bytes[b.pos]
  if (first === 0x40) {
    b.pos++
    return 0
  }
  if (first !== undefined && isNumericValtype(first)) {
    b.pos++
    return 1
  }
  if (first !== undefined && first >= 0x40 && first < 0x80)
    throw new InvalidModuleError(valtypeProblem(first))
  const t = types[b.s33()]
  if (!t) throw new InvalidModuleError('uses a block with an undefined type')
  return (Math.min(t.params.length, 0x7fff) << 16) | Math.min(t.results.length, 0xffff)
}

/**
 * Operand-stack effect (pushes − pops) of every opcode whose effect is fixed; control
 * instructions, calls and 0xFC-prefixed ones are handled by the rewriter itself.
 */
export const STACK_DELTA: Int8Array = (() => {
  const d = new Int8Array(256)
  const set = (from: number, to: number, v: number) => d.fill(v, from, to + 1)
  set(0x1a, 0x1a, -1) // drop
  set(0x1b, 0x1c, -2) // select
  set(0x20, 0x20, 1) // local.get
  set(0x21, 0x21, -1) // local.set
  set(0x23, 0x23, 1) // global.get
  set(0x24, 0x24, -1) // global.set
  set(0x36, 0x3e, -2) // stores
  set(0x3f, 0x3f, 1) // memory.size
  set(0x41, 0x44, 1) // constants
  for (const [from, to] of [
    [0x46, 0x4f],
    [0x51, 0x5a],
    [0x5b, 0x66],
    [0x6a, 0x78],
    [0x7c, 0x8a],
    [0x92, 0x98],
    [0xa0, 0xa6],
  ] as const)
    set(from, to, -1) // binary operators and comparisons
  return d
})()
