/**
 * Assembles the metered module: the module's own sections with the rewritten code, plus
 *
 * - the memory turned into an import (`plusone.memory`), so the host creates it with the task's
 *   limit as maximum and the compiled module does not depend on the limit (one cache entry per
 *   CID). A module declaring a larger maximum is clamped to the task's limit; a module whose
 *   minimum exceeds the limit ends as out_of_memory before it runs.
 * - three globals exported for the host: `__plusone_fuel` (i64, remaining fuel), `__plusone_stack`
 *   (i32, remaining virtual stack bytes), `__plusone_flags` (i32, why the last trap happened) and
 *   `__plusone_max_pages` (i32, the memory's maximum, set by the host: memory.grow checks it
 *   before charging for pages it would not get).
 * - the start section replaced by the export `__plusone_start`, which the host calls after it has
 *   set the fuel, so a start function is metered like everything else.
 *
 * Custom sections (names, producers) are dropped.
 */
import { Writer } from './binary.js'
import { rewriteCode } from './meter.js'
import { Helpers, type MeterGlobals, STACK_BUDGET_BYTES, TypeTable } from './meter-support.js'
import type { EntryRange, ParsedModule } from './parse.js'

export const EXPORT_FUEL = '__plusone_fuel'
export const EXPORT_STACK = '__plusone_stack'
export const EXPORT_FLAGS = '__plusone_flags'
export const EXPORT_MAX_PAGES = '__plusone_max_pages'
export const EXPORT_START = '__plusone_start'
export const IMPORT_MEMORY_MODULE = 'plusone'
export const IMPORT_MEMORY_NAME = 'memory'

export interface RewrittenModule {
  bytes: Uint8Array
  memory: { minPages: number; maxPages?: number }
  hasStart: boolean
}

export function rewriteModule(m: ParsedModule): RewrittenModule {
  const definedGlobals = m.globalsRange.count
  const g: MeterGlobals = {
    fuel: definedGlobals,
    stack: definedGlobals + 1,
    flags: definedGlobals + 2,
    maxPages: definedGlobals + 3,
  }
  const types = new TypeTable(m.types.length)
  const helpers = new Helpers(m.funcTypes.length, types, g)
  const code = rewriteCode(m, g, types, helpers)

  const out = new Writer(code.len + (m.bytes.length - (m.codeRange.end - m.codeRange.start)) + 1024)
  out.bytes(Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0))
  const raw = (r: EntryRange) => m.bytes.subarray(r.start, r.end)
  const section = (id: number, count: number, fill: (w: Writer) => void) => {
    out.byte(id)
    const sizeSlot = out.slot()
    const start = out.len
    out.u32(count)
    fill(out)
    out.patch(sizeSlot, out.len - start)
  }

  // The helper and wrapper types are all known once the code has been rewritten.
  section(1, m.types.length + types.added.length, (w) => {
    w.bytes(raw(m.typesRange))
    for (const t of types.added) {
      w.byte(0x60)
      w.u32(t.params.length)
      for (const p of t.params) w.byte(p)
      w.u32(t.results.length)
      for (const p of t.results) w.byte(p)
    }
  })
  section(2, m.importsRange.count + 1, (w) => {
    w.bytes(raw(m.importsRange))
    w.name(IMPORT_MEMORY_MODULE)
    w.name(IMPORT_MEMORY_NAME)
    w.byte(0x02)
    if (m.memory.maxPages === undefined) {
      w.byte(0)
      w.u32(m.memory.minPages)
    } else {
      w.byte(1)
      w.u32(m.memory.minPages)
      w.u32(m.memory.maxPages)
    }
  })
  section(3, m.functionsRange.count + helpers.added.length, (w) => {
    w.bytes(raw(m.functionsRange))
    for (const h of helpers.added) w.u32(h.typeIdx)
  })
  if (m.tableRange) section(4, m.tableRange.count, (w) => w.bytes(raw(m.tableRange!)))
  section(6, definedGlobals + 4, (w) => {
    w.bytes(raw(m.globalsRange))
    w.bytes(Uint8Array.of(0x7e, 1, 0x42, 0, 0x0b)) // fuel: mut i64 = 0, set by the host
    w.bytes(Uint8Array.of(0x7f, 1, 0x41))
    w.s64(STACK_BUDGET_BYTES)
    w.byte(0x0b)
    w.bytes(Uint8Array.of(0x7f, 1, 0x41, 0, 0x0b)) // flags
    w.bytes(Uint8Array.of(0x7f, 1, 0x41, 0, 0x0b)) // max pages, set by the host
  })
  const extraExports = m.start === undefined ? 4 : 5
  section(7, m.exportsRange.count + extraExports, (w) => {
    w.bytes(raw(m.exportsRange))
    for (const [name, idx] of [
      [EXPORT_FUEL, g.fuel],
      [EXPORT_STACK, g.stack],
      [EXPORT_FLAGS, g.flags],
      [EXPORT_MAX_PAGES, g.maxPages],
    ] as const) {
      w.name(name)
      w.byte(0x03)
      w.u32(idx)
    }
    if (m.start !== undefined) {
      w.name(EXPORT_START)
      w.byte(0x00)
      w.u32(m.start)
    }
  })
  if (m.elementRange) section(9, m.elementRange.count, (w) => w.bytes(raw(m.elementRange!)))
  if (m.dataCountRange) section(12, m.dataCountRange.count, () => {})
  section(10, m.codeRange.count + helpers.added.length, (w) => {
    w.bytes(code.buf.subarray(0, code.len))
    for (const h of helpers.added) {
      w.u32(h.body.length)
      w.bytes(h.body)
    }
  })
  if (m.dataRange) section(11, m.dataRange.count, (w) => w.bytes(raw(m.dataRange!)))
  return { bytes: out.result(), memory: m.memory, hasStart: m.start !== undefined }
}
