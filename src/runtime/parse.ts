/**
 * Section-level parsing and validation of an untrusted module against the feature set in
 * features.ts. Function bodies are checked instruction by instruction by the rewriter
 * (meter.ts); type checking of bodies is left to V8's validator, which runs on the rewritten
 * module before it is compiled.
 */
import { MalformedModuleError, Reader } from './binary.js'
import {
  describeSignature,
  ENGINE_LIMITS,
  HOST_IMPORTS,
  isNumericValtype,
  VALTYPE_I32,
  valtypeProblem,
} from './features.js'

/** The module is outside plusone's feature set or malformed; the message says what to change. */
export class InvalidModuleError extends Error {
  static override name = 'InvalidModuleError'
  constructor(message: string) {
    super(message)
    this.name = 'InvalidModuleError'
  }
}

export interface FuncType {
  params: number[]
  results: number[]
}

/** A section's entries as a byte range (after the entry count) plus that count. */
export interface EntryRange {
  count: number
  start: number
  end: number
}

export interface ParsedModule {
  bytes: Uint8Array
  types: FuncType[]
  typesRange: EntryRange
  /** Type index of every function, imported ones first. */
  funcTypes: number[]
  importedFuncs: number
  /** `module.name` of each imported function, by function index. */
  importNames: string[]
  importsRange: EntryRange
  functionsRange: EntryRange
  tableRange?: EntryRange
  memory: { minPages: number; maxPages?: number }
  globalsRange: EntryRange
  exportsRange: EntryRange
  start?: number
  elementRange?: EntryRange
  dataCountRange?: EntryRange
  codeRange: EntryRange
  dataRange?: EntryRange
  /** Functions callable from outside a direct `call`: exported, start, or placed in the table. */
  externallyCalled: Set<number>
}

export const WASM_PAGE_BYTES = 65536
export const MAX_MEMORY_PAGES = 65536
/** Tables cannot grow in the accepted feature set (table.grow is rejected); this bounds their host memory. */
export const MAX_TABLE_ELEMENTS = 1 << 20
/** Names a module may not export, because the rewriter adds its own under this prefix. */
export const RESERVED_EXPORT_PREFIX = '__plusone'

const SECTION_RANK: Record<number, number> = {
  1: 1,
  2: 2,
  3: 3,
  4: 4,
  5: 5,
  6: 7,
  7: 8,
  8: 9,
  9: 10,
  12: 11,
  10: 12,
  11: 13,
}

function bad(msg: string): never {
  throw new InvalidModuleError(msg)
}

/** Refuses a count above one of V8's limits before anything is done per entry. */
function atMost(count: number, limit: number, what: string): void {
  if (count > limit) bad(`declares ${count} ${what}; WebAssembly engines accept at most ${limit}`)
}

function readLimits(r: Reader, what: 'memory' | 'table'): { min: number; max?: number } {
  const flags = r.u8()
  if (flags === 0x02 || flags === 0x03)
    bad(`declares a shared ${what}: threads and shared memory are not supported`)
  if (flags >= 0x04 && flags <= 0x07) bad(`declares a 64-bit ${what}: memory64 is not supported`)
  if (flags > 0x01) bad(`declares ${what} limits with unknown flags 0x${flags.toString(16)}`)
  const min = r.u32()
  const max = flags === 0x01 ? r.u32() : undefined
  if (max !== undefined && max < min) bad(`declares a ${what} maximum (${max}) below its minimum (${min})`)
  return max === undefined ? { min } : { min, max }
}

/** Skips a constant expression: one numeric constant or global.get, then `end`. */
export function skipConstExpr(r: Reader): void {
  const op = r.u8()
  if (op === 0x41) r.skipSigned(32)
  else if (op === 0x42) r.skipSigned(64)
  else if (op === 0x43) r.skip(4)
  else if (op === 0x44) r.skip(8)
  else if (op === 0x23) r.u32()
  else if (op === 0xd0 || op === 0xd2)
    bad('uses reference types in a constant expression, which are not supported')
  else bad(`uses opcode 0x${op.toString(16)} in a constant expression (extended constants are not supported)`)
  if (r.u8() !== 0x0b) bad('uses an extended constant expression, which is not supported')
}

function sameSig(t: FuncType, params: readonly number[], results: readonly number[]): boolean {
  return (
    t.params.length === params.length &&
    t.results.length === results.length &&
    t.params.every((p, i) => p === params[i]) &&
    t.results.every((p, i) => p === results[i])
  )
}

/** Parses and validates everything but function bodies. Throws {@link InvalidModuleError}. */
export function parseModule(bytes: Uint8Array): ParsedModule {
  try {
    return parseInner(bytes)
  } catch (err) {
    if (err instanceof MalformedModuleError) bad(`is not a well-formed WebAssembly binary (${err.message})`)
    throw err
  }
}

function parseInner(bytes: Uint8Array): ParsedModule {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d)
    bad('is not WebAssembly (missing the \\0asm header)')
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0)
    bad('is not a WebAssembly version 1 binary (component-model and other layers are not supported)')
  const r = new Reader(bytes, 8)
  const empty = (at: number): EntryRange => ({ count: 0, start: at, end: at })
  const m: ParsedModule = {
    bytes,
    types: [],
    typesRange: empty(8),
    funcTypes: [],
    importedFuncs: 0,
    importNames: [],
    importsRange: empty(8),
    functionsRange: empty(8),
    memory: { minPages: 0 },
    globalsRange: empty(8),
    exportsRange: empty(8),
    codeRange: empty(8),
    externallyCalled: new Set(),
  }
  let lastRank = 0
  let memories = 0
  let definedFuncs = 0
  let hasRun = false
  let hasMemoryExport = false
  while (!r.done) {
    const id = r.u8()
    const size = r.u32()
    const end = r.pos + size
    if (end > bytes.length) r.fail('section runs past the end of the module')
    if (id === 0) {
      r.name()
      r.pos = end
      continue
    }
    if (id === 13) bad('declares exception tags: exception handling is not supported')
    const rank = SECTION_RANK[id]
    if (rank === undefined) bad(`contains unknown section id ${id}`)
    if (rank <= lastRank) bad(`has section id ${id} out of order or duplicated`)
    lastRank = rank
    const s = new Reader(bytes, r.pos, end)
    const count = id === 8 ? 0 : s.u32()
    const range: EntryRange = { count, start: s.pos, end }
    switch (id) {
      case 1:
        m.typesRange = range
        atMost(count, ENGINE_LIMITS.types, 'types')
        for (let i = 0; i < count; i++) {
          const form = s.u8()
          if (form !== 0x60) bad('declares a non-function type: GC types are not supported')
          const params: number[] = []
          const results: number[] = []
          for (const list of [params, results]) {
            const n = s.u32()
            const limit = list === params ? ENGINE_LIMITS.params : ENGINE_LIMITS.results
            if (n > limit)
              bad(
                `declares a function type (type ${i}) with ${n} ${list === params ? 'parameters' : 'results'}; WebAssembly engines accept at most ${limit}`,
              )
            if (n > end - s.pos) s.fail('type list longer than its section')
            for (let j = 0; j < n; j++) {
              const t = s.u8()
              if (!isNumericValtype(t)) bad(`${valtypeProblem(t)} in a function type`)
              list.push(t)
            }
          }
          m.types.push({ params, results })
        }
        break
      case 2:
        m.importsRange = range
        atMost(count, ENGINE_LIMITS.imports, 'imports')
        for (let i = 0; i < count; i++) {
          const mod = s.name()
          const name = s.name()
          const kind = s.u8()
          const what = `${mod}.${name}`
          if (kind === 0x02)
            bad(`imports memory ${what}: the module must define and export its own memory (do not import it)`)
          if (kind !== 0x00)
            bad(
              `imports ${['a function', 'a table', 'memory', 'a global', 'a tag'][kind] ?? 'something'} ${what}: only the plusone host functions are available`,
            )
          const typeIdx = s.u32()
          const host = HOST_IMPORTS.find((h) => h.module === mod && h.name === name)
          if (!host)
            bad(
              `imports ${what}: only the plusone host functions are available (plusone.input_len, input_read, output_write, seed, progress and env.abort)`,
            )
          const t = m.types[typeIdx]
          if (!t) bad(`imports ${what} with an undefined type index ${typeIdx}`)
          if (!sameSig(t, host.params, host.results))
            bad(
              `imports ${what} as ${describeSignature(t.params, t.results)}, but it is ${describeSignature(host.params, host.results)}`,
            )
          m.funcTypes.push(typeIdx)
          m.importNames.push(what)
        }
        m.importedFuncs = count
        break
      case 3:
        m.functionsRange = range
        definedFuncs = count
        atMost(m.funcTypes.length + count, ENGINE_LIMITS.functions, 'functions')
        if (count > end - s.pos) s.fail('function list longer than its section')
        for (let i = 0; i < count; i++) {
          const typeIdx = s.u32()
          if (typeIdx >= m.types.length)
            bad(`declares function ${m.funcTypes.length} with undefined type ${typeIdx}`)
          m.funcTypes.push(typeIdx)
        }
        break
      case 4:
        m.tableRange = range
        if (count > 1) bad('declares more than one table: reference types are not supported')
        for (let i = 0; i < count; i++) {
          const refType = s.u8()
          if (refType !== 0x70)
            bad('declares a table that does not hold funcref: reference types are not supported')
          const { min } = readLimits(s, 'table')
          if (min > MAX_TABLE_ELEMENTS)
            bad(`declares a table of ${min} elements; the limit is ${MAX_TABLE_ELEMENTS}`)
        }
        break
      case 5:
        memories = count
        if (count > 1) bad('declares more than one memory: multi-memory is not supported')
        for (let i = 0; i < count; i++) {
          const { min, max } = readLimits(s, 'memory')
          if (min > MAX_MEMORY_PAGES || (max ?? 0) > MAX_MEMORY_PAGES) bad('declares memory beyond 4 GiB')
          m.memory = max === undefined ? { minPages: min } : { minPages: min, maxPages: max }
        }
        break
      case 6:
        m.globalsRange = range
        atMost(count, ENGINE_LIMITS.globals, 'globals')
        for (let i = 0; i < count; i++) {
          const t = s.u8()
          if (!isNumericValtype(t)) bad(`${valtypeProblem(t)} in a global`)
          const mut = s.u8()
          if (mut > 1) bad(`declares a global with unknown mutability ${mut}`)
          skipConstExpr(s)
        }
        break
      case 7:
        m.exportsRange = range
        atMost(count, ENGINE_LIMITS.exports, 'exports')
        for (let i = 0; i < count; i++) {
          const name = s.name()
          const kind = s.u8()
          const idx = s.u32()
          if (kind === 0x00) m.externallyCalled.add(idx)
          if (name.startsWith(RESERVED_EXPORT_PREFIX))
            bad(`exports ${name}: names starting with ${RESERVED_EXPORT_PREFIX} are reserved`)
          if (name === 'run') {
            if (kind !== 0x00) bad('exports run, but not as a function')
            const t = m.types[m.funcTypes[idx] ?? -1]
            if (!t) bad('exports run with an undefined function index')
            if (!sameSig(t, [], [VALTYPE_I32]))
              bad(`exports run as ${describeSignature(t.params, t.results)}, but it must be () -> (i32)`)
            hasRun = true
          }
          if (name === 'memory') {
            if (kind !== 0x02) bad('exports memory, but not as a memory')
            hasMemoryExport = true
          }
        }
        break
      case 8:
        m.start = s.u32()
        m.externallyCalled.add(m.start)
        break
      case 9: {
        m.elementRange = range
        let entries = 0
        for (let i = 0; i < count; i++) {
          const flags = s.u32()
          if (flags > 2)
            bad(
              'declares an element segment with expressions or declarative mode: reference types are not supported',
            )
          if (flags === 2 && s.u32() !== 0)
            bad('declares an element segment for a second table: reference types are not supported')
          if (flags !== 1) skipConstExpr(s)
          if (flags !== 0 && s.u8() !== 0x00) bad('declares an element segment of unknown kind')
          const n = s.u32()
          if (n > end - s.pos) s.fail('element segment longer than its section')
          entries += n
          atMost(entries, ENGINE_LIMITS.tableEntries, 'table elements')
          for (let j = 0; j < n; j++) m.externallyCalled.add(s.u32())
        }
        break
      }
      case 12:
        m.dataCountRange = range
        break
      case 10:
        m.codeRange = range
        if (count !== definedFuncs) bad(`has ${count} function bodies for ${definedFuncs} functions`)
        for (let i = 0; i < count; i++) {
          const size = s.u32()
          if (size > ENGINE_LIMITS.functionBytes)
            bad(
              `has a function body of ${size} bytes (function ${m.importedFuncs + i}); WebAssembly engines accept at most ${ENGINE_LIMITS.functionBytes}`,
            )
          s.skip(size)
        }
        break
      case 11:
        m.dataRange = range
        atMost(count, ENGINE_LIMITS.dataSegments, 'data segments')
        for (let i = 0; i < count; i++) {
          const flags = s.u32()
          if (flags > 2) bad(`declares a data segment with unknown flags ${flags}`)
          if (flags === 2 && s.u32() !== 0)
            bad('declares a data segment for a second memory: multi-memory is not supported')
          if (flags !== 1) skipConstExpr(s)
          s.skip(s.u32())
        }
        break
    }
    if (s.pos !== end) s.fail(`section ${id} has trailing bytes`)
    r.pos = end
  }
  if (memories === 0) bad('defines no memory: a task module must define and export memory')
  if (!hasMemoryExport) bad('does not export its memory as "memory"')
  if (!hasRun) bad('does not export a function run() -> i32')
  if (m.start !== undefined && m.start >= m.funcTypes.length) bad('names an undefined start function')
  if (m.start !== undefined) {
    const t = m.types[m.funcTypes[m.start]!]!
    if (t.params.length > 0 || t.results.length > 0) bad('has a start function that takes or returns values')
  }
  return m
}
