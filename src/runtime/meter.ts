/**
 * The metering rewriter for function bodies. For every defined function it
 *
 * - charges fuel at function entry and at every loop header. A charge is the number of
 *   original instructions in its region: the function body outside any loop, or one loop's
 *   body outside its nested loops (both arms of an `if` are charged; branches that leave early
 *   are still charged in full — an over-estimate, but a deterministic one). Every backward jump
 *   lands on a loop header and every call on a function entry, so no unbounded run escapes.
 *   One fuel unit is therefore about one WebAssembly instruction of the original module.
 * - keeps the remaining fuel in a local while a function runs, writing it back to the global
 *   before every call and at exit (callees and host functions read the global), so a loop
 *   header costs a register subtract and compare. Consequence, deterministic like the rest: for
 *   a `trap` the reported fuel is the fuel charged up to the last call or function entry.
 * - leaves "pure leaves" unmetered: functions with no loops and no calls (except to the host
 *   functions that never touch fuel: abort, input_len, seed, progress) that are called only
 *   directly (not exported, not the start function, not in a table). Their callers are charged
 *   their whole instruction count at the call site. This keeps small getters — AssemblyScript's
 *   bounds-checked array accessors — as cheap as unmetered code.
 * - charges a virtual stack budget on entry and refunds it on exit, so call depth is decided by
 *   the rewriter and never by V8's machine-dependent stack limit. The charge over-estimates the
 *   frame: 64 bytes + 8 per param/local + 8 per slot of the maximum operand-stack height.
 *   `return` becomes a branch to a wrapper block so the refund runs on every exit.
 * - charges calls for the work around them: a call into a metered function CALL_FUEL,
 *   call_indirect CALL_INDIRECT_FUEL more, a host function its fee (features.ts) when the call
 *   is made. A leaf that calls the host (abort may trap there) has its caller write the fuel
 *   back first, so fuelUsed is exact for a task that ends in it.
 * - canonicalises the NaN results of float arithmetic (see nan.ts), so x86 and ARM produce the
 *   same bytes, and leaves the bit-exact operators (neg, abs, copysign, reinterpret, loads,
 *   stores) exactly as WebAssembly defines them.
 * - replaces memory.grow/fill/copy/init by calls to helpers that charge for the bytes they
 *   touch (before touching them). A refused memory.grow returns -1 as WebAssembly says and
 *   sets a flag, so a trap that follows it is reported as out_of_memory.
 *
 * Every count it works with is bounded by V8's limits (parse.ts) and every function is walked
 * a constant number of times, with a bounded look-ahead: rewriting is linear in module size.
 *
 * Fuel lives in an i64 global that counts down; it falling below zero traps as `out_of_fuel`.
 */
import { MalformedModuleError, Reader, Writer } from './binary.js'
import {
  ENGINE_LIMITS,
  HOST_IMPORTS,
  isNumericValtype,
  opcodeProblem,
  prefixedProblem,
  VALTYPE_F32,
  VALTYPE_F64,
  VALTYPE_I32,
  VALTYPE_I64,
  valtypeProblem,
} from './features.js'
import {
  CALL_FUEL,
  CALL_INDIRECT_FUEL,
  type Helpers,
  type Leaf,
  leb,
  type MeterGlobals,
  readBlockType,
  STACK_DELTA,
  scanLeaf,
  type TypeTable,
} from './meter-support.js'
import { bitSensitiveLocals, ignoresNanBits, NAN_RESULT } from './nan.js'
import { InvalidModuleError, type ParsedModule } from './parse.js'

/** The temporaries every rewritten function gets: one local each of i64, i32, f32, f64. */
const EXTRA_LOCALS = Uint8Array.of(1, VALTYPE_I64, 1, VALTYPE_I32, 1, VALTYPE_F32, 1, VALTYPE_F64)
const CANONICAL_F32_CONST = Uint8Array.of(0x43, 0, 0, 0xc0, 0x7f)
const CANONICAL_F64_CONST = Uint8Array.of(0x44, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f)
/** i64.const 0; i64.lt_s; if (void) — then the caller writes the trap path and `end`. */
const I64_NEGATIVE_IF = Uint8Array.of(0x42, 0, 0x53, 0x04, 0x40)
/** i32.const 0; i32.lt_s; if; unreachable; end */
const I32_NEGATIVE_TRAP = Uint8Array.of(0x41, 0, 0x48, 0x04, 0x40, 0x00, 0x0b)

/** Each host function's fee per call, by `module.name`. */
const HOST_FEES = new Map(HOST_IMPORTS.map((h) => [`${h.module}.${h.name}`, h.fuel]))

/** Operand slots the rewriter's own sequences may add on top of the original maximum height. */
const EXTRA_OPERAND_SLOTS = 4
/** V8 refuses functions with more locals than this; we refuse them first, with a sentence. */
const MAX_LOCALS = ENGINE_LIMITS.locals

const CTRL_BLOCK = 0
const CTRL_LOOP = 1

interface Region {
  slot: number
  cost: number
}

/** Rewrites the code section's bodies; returns the new section payload (count + bodies). */
export function rewriteCode(m: ParsedModule, g: MeterGlobals, types: TypeTable, helpers: Helpers): Writer {
  const r = new Reader(m.bytes, m.codeRange.start, m.codeRange.end)
  const w = new Writer(Math.max(1024, Math.ceil((m.codeRange.end - m.codeRange.start) * 1.5)))
  const totalFuncs = m.funcTypes.length
  const fnBase = m.importedFuncs
  const bodies: [number, number][] = []
  for (let i = 0; i < m.codeRange.count; i++) {
    const size = r.u32()
    bodies.push([r.pos, r.pos + size])
    r.skip(size)
  }
  // Pure leaves called only directly are charged by their callers and left unmetered.
  const leaves: (Leaf | undefined)[] = new Array(m.funcTypes.length)
  for (let f = 0; f < bodies.length; f++) {
    if (m.externallyCalled.has(fnBase + f)) continue
    try {
      leaves[fnBase + f] = scanLeaf(m, new Reader(m.bytes, bodies[f]![0], bodies[f]![1]))
    } catch {
      // malformed: the rewriting pass below reports it
    }
  }
  for (let f = 0; f < bodies.length; f++) {
    const [start, end] = bodies[f]!
    const funcIdx = fnBase + f
    try {
      rewriteBody(new Reader(m.bytes, start, end), w, funcIdx)
    } catch (err) {
      if (err instanceof MalformedModuleError)
        throw new InvalidModuleError(`has a malformed body for function ${funcIdx} (${err.message})`)
      if (err instanceof InvalidModuleError)
        throw new InvalidModuleError(`${err.message} (in function ${funcIdx})`)
      throw err
    }
  }
  return w

  function rewriteBody(b: Reader, w: Writer, funcIdx: number): void {
    const type = m.types[m.funcTypes[funcIdx]!]!
    const leaf = leaves[funcIdx] !== undefined
    const sizeSlot = w.slot()
    const bodyStart = w.len
    const groups = b.u32()
    let locals = type.params.length
    w.u32(groups + 4)
    const groupsStart = b.pos
    for (let i = 0; i < groups; i++) {
      const n = b.u32()
      const t = b.u8()
      if (!isNumericValtype(t)) throw new InvalidModuleError(`${valtypeProblem(t)} in a local`)
      locals += n
      if (locals > MAX_LOCALS) throw new InvalidModuleError(`declares more than ${MAX_LOCALS} locals`)
    }
    w.bytes(m.bytes.subarray(groupsStart, b.pos))
    const tI64 = locals
    const tI32 = locals + 1
    const tF32 = locals + 2
    const tF64 = locals + 3
    w.bytes(EXTRA_LOCALS)
    const sensitive = bitSensitiveLocals(m.bytes, b.pos, b.end, m.types)
    const arithmeticOnly = sensitive && ((local: number) => !sensitive.has(local))
    // Emission goes straight into the writer: this runs for every function of every module.
    /** Leaves a canonical NaN in place of any NaN on top of the stack (f32 or f64). */
    const canon = (f64: boolean) => {
      const t = f64 ? tF64 : tF32
      w.byte(0x22)
      w.u32(t)
      w.bytes(f64 ? CANONICAL_F64_CONST : CANONICAL_F32_CONST)
      w.byte(0x20)
      w.u32(t)
      w.byte(0x20)
      w.u32(t)
      w.byte(f64 ? 0x61 : 0x5b) // eq: false only for NaN
      w.byte(0x1b) // select
    }
    // Fuel is kept in the local tI64 inside a function and written back to the global at every
    // call (callees and host functions read it) and at exit, so a loop header costs a register
    // subtract and compare, not a global round trip.
    const syncOut = () => {
      w.byte(0x20)
      w.u32(tI64)
      w.byte(0x24)
      w.u32(g.fuel)
    }
    const syncIn = () => {
      w.byte(0x23)
      w.u32(g.fuel)
      w.byte(0x21)
      w.u32(tI64)
    }
    /** fuel -= cost (from the global at entry, the local at loop headers); trap below zero. */
    const chargeFuel = (entry: boolean): number => {
      w.byte(entry ? 0x23 : 0x20)
      w.u32(entry ? g.fuel : tI64)
      w.byte(0x42)
      const slot = w.slot()
      w.byte(0x7d)
      w.byte(0x22)
      w.u32(tI64)
      w.bytes(I64_NEGATIVE_IF)
      syncOut()
      w.byte(0x00)
      w.byte(0x0b)
      return slot
    }
    /** Emits the call at [at, b.pos) (or `call` replacement) wrapped in fuel write-back and reload. */
    const syncedCall = (at: number, replacement?: Uint8Array) => {
      flush(at)
      syncOut()
      if (replacement) w.bytes(replacement)
      else w.bytes(m.bytes.subarray(at, b.pos))
      syncIn()
      copyFrom = b.pos
    }
    const fnRegion: Region = { slot: leaf ? -1 : chargeFuel(true), cost: 0 }
    let stackSlot1 = -1
    if (!leaf) {
      // stack -= frame; trap if negative
      w.byte(0x23)
      w.u32(g.stack)
      w.byte(0x41)
      stackSlot1 = w.slot()
      w.byte(0x6b)
      w.byte(0x22)
      w.u32(tI32)
      w.byte(0x24)
      w.u32(g.stack)
      w.byte(0x20)
      w.u32(tI32)
      w.bytes(I32_NEGATIVE_TRAP)
      // wrapper block with the function's results, so `return` becomes a branch to it
      w.byte(0x02)
      if (type.results.length === 0) w.byte(0x40)
      else if (type.results.length === 1) w.byte(type.results[0]!)
      else w.s64(types.resultsOf(m.funcTypes[funcIdx]!, type.results))
    }

    // control frames: kind, operand height at entry (below params), packed arity
    const ctrl: number[] = []
    const ctrlEntry: number[] = []
    const ctrlArity: number[] = []
    const regions: Region[] = [fnRegion]
    let region = fnRegion
    let height = 0
    let maxHeight = 0
    const enter = (kind: number, arity: number) => {
      height -= arity >>> 16
      ctrl.push(kind)
      ctrlEntry.push(height)
      ctrlArity.push(arity)
      height += arity >>> 16
    }
    /** After an unconditional branch the rest of the block is unreachable: reset to its base. */
    const unreachable = () => {
      const n = ctrl.length
      height = n === 0 ? 0 : ctrlEntry[n - 1]! + (ctrlArity[n - 1]! >>> 16)
    }
    const callEffect = (typeIdx: number) => {
      const t = m.types[typeIdx]!
      height += t.results.length - t.params.length
    }
    let copyFrom = b.pos
    const flush = (upTo: number) => {
      if (upTo > copyFrom) w.bytes(m.bytes.subarray(copyFrom, upTo))
    }
    const replace = (at: number, bytes: Uint8Array) => {
      flush(at)
      w.bytes(bytes)
      copyFrom = b.pos
    }
    for (;;) {
      const at = b.pos
      const op = b.u8()
      region.cost++
      height += STACK_DELTA[op]!
      switch (op) {
        case 0x00:
          unreachable()
          break
        case 0x01:
        case 0x1a:
        case 0x1b:
          break
        case 0x05: {
          const n = ctrl.length
          if (n > 0) height = ctrlEntry[n - 1]! + (ctrlArity[n - 1]! >>> 16)
          break
        }
        case 0x02:
          enter(CTRL_BLOCK, readBlockType(b, m.types))
          break
        case 0x04:
          height--
          enter(CTRL_BLOCK, readBlockType(b, m.types))
          break
        case 0x03: {
          enter(CTRL_LOOP, readBlockType(b, m.types))
          // the loop instruction itself was charged to the parent; its body is charged per iteration
          flush(b.pos)
          copyFrom = b.pos
          region = { slot: chargeFuel(false), cost: 0 }
          regions.push(region)
          break
        }
        case 0x0b: {
          if (ctrl.length === 0) {
            if (b.pos !== b.end) throw new InvalidModuleError('has bytes after the end of a function body')
            if (leaf) {
              w.patch(sizeSlot, w.len - bodyStart + (b.pos - copyFrom))
              flush(b.pos)
              return
            }
            flush(at)
            w.patch(fnRegion.slot, fnRegion.cost)
            const frame = 64 + 8 * (tF64 + 1) + 8 * (maxHeight + EXTRA_OPERAND_SLOTS)
            w.patch(stackSlot1, frame)
            // end wrapper; stack += frame; end function
            w.byte(0x0b)
            syncOut()
            w.byte(0x23)
            w.u32(g.stack)
            w.byte(0x41)
            const stackSlot2 = w.slot()
            w.patch(stackSlot2, frame)
            w.byte(0x6a)
            w.byte(0x24)
            w.u32(g.stack)
            w.byte(0x0b)
            w.patch(sizeSlot, w.len - bodyStart)
            return
          }
          height = ctrlEntry.pop()! + (ctrlArity.pop()! & 0xffff)
          if (ctrl.pop() === CTRL_LOOP) {
            regions.pop()
            w.patch(region.slot, region.cost)
            region = regions[regions.length - 1]!
          }
          break
        }
        case 0x0c:
          b.u32()
          unreachable()
          break
        case 0x0d:
          b.u32()
          height--
          break
        case 0x0e: {
          const n = b.u32()
          if (n > ENGINE_LIMITS.brTableEntries)
            throw new InvalidModuleError(
              `has a br_table of ${n} entries; WebAssembly engines accept at most ${ENGINE_LIMITS.brTableEntries}`,
            )
          if (n > b.end - b.pos) b.fail('br_table longer than its body')
          for (let i = 0; i <= n; i++) b.u32()
          unreachable()
          break
        }
        case 0x0f: {
          unreachable()
          if (leaf) break
          const depth = Uint8Array.from([0x0c, ...leb(ctrl.length)])
          replace(at, depth)
          break
        }
        case 0x10: {
          const callee = b.u32()
          if (callee >= totalFuncs) throw new InvalidModuleError('calls an undefined function')
          callEffect(m.funcTypes[callee]!)
          const calleeLeaf = leaves[callee]
          if (calleeLeaf) {
            region.cost += calleeLeaf.cost
            // it may trap in a host function (abort): the fuel charged so far must be visible
            if (calleeLeaf.callsHost && !leaf) {
              flush(at)
              syncOut()
              copyFrom = at
            }
          } else if (callee < fnBase) {
            // a host function's fee is charged when the call is made (not with the region:
            // an untaken branch must not pay it). A leaf calls only abort, which is free, and
            // its caller wrote the fuel back before calling it.
            if (!leaf) {
              const fee = HOST_FEES.get(m.importNames[callee]!) ?? 0
              if (fee > 0) {
                flush(at)
                w.patch(chargeFuel(false), fee)
                copyFrom = at
              }
              syncedCall(at)
            }
          } else {
            region.cost += CALL_FUEL
            syncedCall(at)
          }
          break
        }
        case 0x11: {
          const typeIdx = b.u32()
          if (typeIdx >= m.types.length) throw new InvalidModuleError('call_indirect names an undefined type')
          height--
          callEffect(typeIdx)
          if (b.u32() !== 0) throw new InvalidModuleError(opcodeProblem(0x25))
          region.cost += CALL_FUEL + CALL_INDIRECT_FUEL
          syncedCall(at)
          break
        }
        case 0x1c: {
          const n = b.u32()
          const t = b.u8()
          if (n !== 1 || !isNumericValtype(t)) throw new InvalidModuleError(opcodeProblem(0x25))
          break
        }
        case 0x20:
        case 0x21:
        case 0x22:
          b.u32()
          break
        case 0x23:
        case 0x24:
          if (b.u32() >= g.fuel) throw new InvalidModuleError('uses an undefined global')
          break
        case 0x3f:
          if (b.u8() !== 0)
            throw new InvalidModuleError('uses a second memory: multi-memory is not supported')
          break
        case 0x40:
          if (b.u8() !== 0)
            throw new InvalidModuleError('uses a second memory: multi-memory is not supported')
          syncedCall(at, Uint8Array.of(0x10, ...leb(helpers.grow())))
          break
        case 0x41:
          b.skipSigned(32)
          break
        case 0x42:
          b.skipSigned(64)
          break
        case 0x43:
          b.skip(4)
          break
        case 0x44:
          b.skip(8)
          break
        case 0xfc:
          prefixed(b, at)
          break
        default:
          if (op >= 0x28 && op <= 0x3e) {
            readMemarg(b)
            break
          }
          if (op >= 0x45 && op <= 0xc4) {
            const nan = NAN_RESULT[op]!
            // an arithmetic NaN result is canonicalised unless its bits can never be seen (nan.ts)
            if (nan !== 0 && !ignoresNanBits(m.bytes, b.pos, b.end, arithmeticOnly)) {
              flush(b.pos)
              canon(nan === VALTYPE_F64)
              copyFrom = b.pos
            }
            break
          }
          throw new InvalidModuleError(opcodeProblem(op))
      }
      if (height > maxHeight) maxHeight = height
    }

    function prefixed(b: Reader, at: number): void {
      const sub = b.u32()
      if (sub <= 7) return
      if (sub === 8 || sub === 10 || sub === 11) height -= 3
      switch (sub) {
        case 8: {
          const seg = b.u32()
          if (b.u8() !== 0)
            throw new InvalidModuleError('uses a second memory: multi-memory is not supported')
          syncedCall(at, Uint8Array.of(0x10, ...leb(helpers.bulk(`init${seg}`, [0xfc, 8, ...leb(seg), 0]))))
          return
        }
        case 9:
        case 13:
          b.u32()
          return
        case 10:
          if (b.u8() !== 0 || b.u8() !== 0)
            throw new InvalidModuleError('uses a second memory: multi-memory is not supported')
          syncedCall(at, Uint8Array.of(0x10, ...leb(helpers.bulk('copy', [0xfc, 10, 0, 0]))))
          return
        case 11:
          if (b.u8() !== 0)
            throw new InvalidModuleError('uses a second memory: multi-memory is not supported')
          syncedCall(at, Uint8Array.of(0x10, ...leb(helpers.bulk('fill', [0xfc, 11, 0]))))
          return
        default:
          throw new InvalidModuleError(prefixedProblem(sub))
      }
    }
  }

  /** A pure leaf's instruction count, or -1 if it has loops, calls or memory.grow/bulk operations. */

  function readMemarg(b: Reader): void {
    const align = b.u32()
    if (align >= 64) throw new InvalidModuleError('uses a second memory: multi-memory is not supported')
    b.u32()
  }
}
