/**
 * Runs one prepared module once, synchronously, with the host ABI, and classifies how it ended.
 * Called inside a pool worker (and by the benchmark in-thread). Every call gets a fresh instance
 * and a fresh memory, so nothing leaks between tasks.
 *
 * Determinism contract: for the same prepared module, input, seed and limits this returns the
 * same status, code, fuelUsed and output on every run and every machine. It throws
 * {@link EngineLimitError} when the engine itself, not the task, decided the end (stack overflow
 * despite the rewriter's budget, allocation failure); such a run has no outcome to claim.
 */
import { type WasmGlobal, type WasmMemory, wasm } from './engine.js'
import { outputLimit } from './limits.js'
import { BYTES_PER_FUEL, FLAG_OUT_OF_MEMORY } from './meter-support.js'
import { type Outcome, type OutcomeStatus, sha256 } from './outcome.js'
import type { PreparedModule } from './prepare.js'
import {
  EXPORT_FLAGS,
  EXPORT_FUEL,
  EXPORT_MAX_PAGES,
  EXPORT_STACK,
  EXPORT_START,
  IMPORT_MEMORY_MODULE,
  IMPORT_MEMORY_NAME,
} from './rewrite.js'
import { MAX_MEMORY_PAGES, WASM_PAGE_BYTES } from './parse.js'

/** The engine, not the task, ended the run (e.g. a native stack overflow); there is no outcome. */
export class EngineLimitError extends Error {
  static override name = 'EngineLimitError'
  constructor(message: string) {
    super(message)
    this.name = 'EngineLimitError'
  }
}

export interface ExecuteLimits {
  fuel: bigint
  memoryBytes: number
  maxOutputBytes: number
}

export interface ExecuteRequest {
  prepared: PreparedModule
  input: Uint8Array
  /** 32 bytes handed to the task by `plusone.seed`. */
  seed: Uint8Array
  limits: ExecuteLimits
  onProgress?: (permille: number) => void
}

/** Host calls that copy bytes charge one fuel per this many bytes (on top of the call's fuel). */
const HOST_BYTES_PER_FUEL = BigInt(BYTES_PER_FUEL)

/** Thrown from a host function to stop the task with a status. */
class Stop extends Error {
  constructor(
    readonly status: OutcomeStatus,
    message: string,
  ) {
    super(message)
  }
}

interface MeterExports {
  fuel: WasmGlobal
  stack: WasmGlobal
  flags: WasmGlobal
}

export function execute(req: ExecuteRequest): Outcome {
  const { prepared, input, seed, limits } = req
  const limitPages = Math.min(MAX_MEMORY_PAGES, Math.floor(limits.memoryBytes / WASM_PAGE_BYTES))
  const maxOutput = outputLimit(limits)
  let out = new Uint8Array(Math.min(maxOutput.bytes, 4096))
  let outLen = 0
  const finish = (
    status: OutcomeStatus,
    fuelUsed: bigint,
    extra: { code?: number; message?: string } = {},
  ) => {
    const output = out.slice(0, outLen)
    return { status, ...extra, fuelUsed, output, outputHash: sha256(output) } satisfies Outcome
  }
  if (prepared.memory.minPages > limitPages)
    return finish('out_of_memory', 0n, {
      message: `the module needs ${prepared.memory.minPages} pages of memory at start; the limit is ${limitPages}`,
    })
  let memory: WasmMemory
  const maxPages = Math.min(prepared.memory.maxPages ?? MAX_MEMORY_PAGES, limitPages)
  try {
    memory = new wasm.Memory({ initial: prepared.memory.minPages, maximum: maxPages })
  } catch (err) {
    throw new EngineLimitError(`could not allocate memory: ${(err as Error).message}`)
  }
  let meter: MeterExports | undefined
  const view = (ptr: number, len: number): Uint8Array => {
    const buf = memory.buffer
    if (ptr + len > buf.byteLength) throw new Stop('trap', 'host call with an out-of-bounds pointer')
    return new Uint8Array(buf, ptr, len)
  }
  /** The bytes a host function copies, charged before it copies them (its fee was charged by the call). */
  const charge = (bytes: number) => {
    const cost = BigInt(bytes) / HOST_BYTES_PER_FUEL
    if (cost === 0n || !meter) return
    const left = (meter.fuel.value as bigint) - cost
    meter.fuel.value = left
    if (left < 0n) throw new Stop('out_of_fuel', 'out of fuel')
  }
  let lastProgress = -1
  const imports: Record<string, Record<string, unknown>> = {
    [IMPORT_MEMORY_MODULE]: {
      [IMPORT_MEMORY_NAME]: memory,
      input_len: () => input.length,
      input_read: (dst: number, offset: number, len: number) => {
        const off = offset >>> 0
        const n = Math.max(0, Math.min(len >>> 0, input.length - off))
        const into = view(dst >>> 0, n)
        charge(n)
        into.set(input.subarray(off, off + n))
        return n
      },
      output_write: (src: number, len: number) => {
        const n = len >>> 0
        const bytes = view(src >>> 0, n)
        // refused before a byte is held: the executor never keeps more than the limit
        if (outLen + n > maxOutput.bytes)
          throw new Stop('output_too_large', `output exceeds ${maxOutput.why}`)
        charge(n)
        if (outLen + n > out.length) {
          const grown = new Uint8Array(Math.min(maxOutput.bytes, Math.max(out.length * 2, outLen + n)))
          grown.set(out.subarray(0, outLen))
          out = grown
        }
        out.set(bytes, outLen)
        outLen += n
      },
      seed: (dst: number) => {
        view(dst >>> 0, 32).set(seed)
      },
      progress: (permille: number) => {
        const p = Math.max(0, Math.min(1000, permille | 0))
        if (p !== lastProgress) {
          lastProgress = p
          req.onProgress?.(p)
        }
      },
    },
    env: {
      abort: (msg: number, file: number, line: number, col: number) => {
        throw new Stop(
          'trap',
          `abort: ${readAsString(memory, msg)} at ${readAsString(memory, file)}:${line}:${col}`,
        )
      },
    },
  }
  const fuelUsed = (): bigint => {
    if (!meter) return 0n
    const left = meter.fuel.value as bigint
    return left < 0n ? limits.fuel : limits.fuel - left
  }
  try {
    const instance = new wasm.Instance(prepared.module, imports)
    const ex = instance.exports
    meter = {
      fuel: ex[EXPORT_FUEL] as WasmGlobal,
      stack: ex[EXPORT_STACK] as WasmGlobal,
      flags: ex[EXPORT_FLAGS] as WasmGlobal,
    }
    meter.fuel.value = limits.fuel
    ;(ex[EXPORT_MAX_PAGES] as WasmGlobal).value = maxPages
    if (prepared.hasStart) (ex[EXPORT_START] as () => void)()
    const code = (ex.run as () => number)()
    if (code === 0) return finish('ok', fuelUsed())
    return finish('error', fuelUsed(), { code, message: `run returned ${code}` })
  } catch (err) {
    if (err instanceof Stop) return finish(err.status, fuelUsed(), { message: err.message })
    if (err instanceof wasm.RuntimeError) {
      if (meter && (meter.fuel.value as bigint) < 0n)
        return finish('out_of_fuel', limits.fuel, { message: 'out of fuel' })
      if (meter && ((meter.flags.value as number) & FLAG_OUT_OF_MEMORY) !== 0)
        return finish('out_of_memory', fuelUsed(), {
          message: `the task trapped (${err.message}) after memory.grow was refused at ${memoryPages(memory)} pages (the limit is ${maxPages} pages)`,
        })
      if (meter && (meter.stack.value as number) < 0)
        return finish('trap', fuelUsed(), { message: 'call depth limit exceeded' })
      return finish('trap', fuelUsed(), { message: err.message })
    }
    if (err instanceof RangeError) throw new EngineLimitError(`the engine stopped the task: ${err.message}`)
    throw err
  }
}

function memoryPages(memory: WasmMemory): number {
  return memory.buffer.byteLength / WASM_PAGE_BYTES
}

/** Reads an AssemblyScript string (UTF-16LE, byte length at ptr - 4) for abort messages. */
function readAsString(memory: WasmMemory, ptr: number): string {
  const p = ptr >>> 0
  const buf = memory.buffer
  if (p < 4 || p > buf.byteLength) return '?'
  const len = new DataView(buf).getUint32(p - 4, true)
  if (len > 4096 || p + len > buf.byteLength || len % 2 !== 0) return '?'
  return Buffer.from(buf, p, len).toString('utf16le')
}
