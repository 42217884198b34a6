/**
 * The fixed feature set plusone accepts, and the sentences a task author reads when a module
 * steps outside it.
 *
 * Accepted: the WebAssembly 1.0 MVP plus these deterministic post-MVP proposals —
 * mutable-global export, sign-extension operators, non-trapping float-to-int conversions,
 * bulk memory operations (memory.copy/fill/init, data.drop, elem.drop), multi-value (functions
 * and blocks returning several values). These are what AssemblyScript 0.28 enables by default.
 *
 * Rejected: threads/atomics and shared memory, SIMD (fixed and relaxed), memory64,
 * multi-memory, exception handling, tail calls, reference types (ref.null, ref.func, table.get
 * /set/grow/size/fill, externref/funcref values), typed function references, GC, extended
 * constant expressions, imports outside the host ABI, and the bulk table operations
 * `table.init` and `table.copy`: their cost grows with an operand (a copy over a million-entry
 * table takes 20 ms of CPU for one instruction), no compiler we know emits them for ordinary
 * code (asc never does, with any runtime), and a function table is set up by element segments
 * at instantiation instead.
 *
 * Limits: every count and size is bounded by V8's own limits (wasm-limits.h), checked before the
 * rewriter does any work, so a module V8 would reject anyway costs linear time to refuse.
 */

/** V8's limits on a module (src/wasm/wasm-limits.h, shared with the other browser engines). */
export const ENGINE_LIMITS = Object.freeze({
  types: 1_000_000,
  functions: 1_000_000,
  imports: 100_000,
  exports: 100_000,
  globals: 1_000_000,
  dataSegments: 100_000,
  tableEntries: 10_000_000,
  nameBytes: 100_000,
  functionBytes: 7_654_321,
  locals: 50_000,
  params: 1000,
  results: 1000,
  brTableEntries: 65_520,
})

export const VALTYPE_I32 = 0x7f
export const VALTYPE_I64 = 0x7e
export const VALTYPE_F32 = 0x7d
export const VALTYPE_F64 = 0x7c

export function isNumericValtype(t: number): boolean {
  return t === VALTYPE_I32 || t === VALTYPE_I64 || t === VALTYPE_F32 || t === VALTYPE_F64
}

export function valtypeProblem(t: number): string {
  if (t === 0x7b) return 'uses the v128 type: SIMD is not supported (compile without SIMD)'
  if (t === 0x70 || t === 0x6f || (t >= 0x63 && t <= 0x6e))
    return 'uses a reference type: reference types and GC are not supported'
  return `uses unknown value type 0x${t.toString(16)}`
}

/** The host ABI: the only imports a module may declare, with their exact signatures. */
export interface HostImport {
  module: string
  name: string
  params: readonly number[]
  results: readonly number[]
  /**
   * Fuel charged by each call, when it is made: crossing into JavaScript and back costs about as
   * much CPU as this many WebAssembly instructions (calibrated by bench/runtime.ts, the "host"
   * rows). Host functions that copy bytes also charge for the bytes. abort ends the task.
   */
  fuel: number
}

const I32 = VALTYPE_I32
export const HOST_IMPORTS: readonly HostImport[] = [
  { module: 'plusone', name: 'input_len', params: [], results: [I32], fuel: 40 },
  { module: 'plusone', name: 'input_read', params: [I32, I32, I32], results: [I32], fuel: 40 },
  { module: 'plusone', name: 'output_write', params: [I32, I32], results: [], fuel: 40 },
  { module: 'plusone', name: 'seed', params: [I32], results: [], fuel: 40 },
  { module: 'plusone', name: 'progress', params: [I32], results: [], fuel: 400 },
  { module: 'env', name: 'abort', params: [I32, I32, I32, I32], results: [], fuel: 0 },
]

export function describeSignature(params: readonly number[], results: readonly number[]): string {
  const n = (t: number) => ({ 127: 'i32', 126: 'i64', 125: 'f32', 124: 'f64' })[t] ?? `0x${t.toString(16)}`
  return `(${params.map(n).join(', ')}) -> (${results.map(n).join(', ')})`
}

/** Why a single-byte opcode outside the feature set is rejected. */
export function opcodeProblem(op: number): string {
  if (op >= 0x06 && op <= 0x0a) return 'uses exception handling, which is not supported'
  if (op === 0x18 || op === 0x19 || op === 0x1f) return 'uses exception handling, which is not supported'
  if (op === 0x12 || op === 0x13) return 'uses tail calls (return_call), which are not supported'
  if (op === 0x14 || op === 0x15 || (op >= 0xd3 && op <= 0xd6))
    return 'uses typed function references, which are not supported'
  if (op === 0x25 || op === 0x26 || (op >= 0xd0 && op <= 0xd2))
    return 'uses reference types (table.get/set, ref.*), which are not supported'
  if (op === 0xfb) return 'uses GC instructions, which are not supported'
  if (op === 0xfd) return 'uses SIMD instructions, which are not supported (compile without SIMD)'
  if (op === 0xfe) return 'uses threads/atomics, which are not supported'
  return `uses unknown opcode 0x${op.toString(16)}`
}

/** Why a 0xFC-prefixed instruction outside the feature set is rejected. */
export function prefixedProblem(sub: number): string {
  if (sub === 12 || sub === 14)
    return `uses ${sub === 12 ? 'table.init' : 'table.copy'}, which is not supported: its cost grows with the table size (fill the table with an element segment instead)`
  if (sub >= 15 && sub <= 17)
    return `uses ${['table.grow', 'table.size', 'table.fill'][sub - 15]} (reference types), which is not supported`
  return `uses unknown opcode 0xfc ${sub}`
}
