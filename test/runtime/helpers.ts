/** Shared fixtures for the runtime tests: built example modules and small limits. */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Writer } from '../../src/runtime/binary.js'
import type { TaskLimits } from '../../src/runtime/index.js'

/** The repository root, from the sources (tsx) or from dist/test/runtime (compiled). */
export const ROOT = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../../../' : '../../', import.meta.url),
)

/** A built example: `sha256`, `wat/infinite_loop`, … (built by scripts/build-examples.mjs). */
export function example(name: string): Uint8Array {
  return new Uint8Array(readFileSync(`${ROOT}examples/build/${name}.wasm`))
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

export function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n, true)
  return b
}

export const SMALL_LIMITS: TaskLimits = {
  fuel: 200_000_000n,
  memoryBytes: 16 * 1024 * 1024,
  maxOutputBytes: 1024 * 1024,
}

/**
 * A module of `n` functions of type 0 sharing one body, then `run` (type 1) as function `n`,
 * and one page of memory. `types` is the type section's payload; `body` and `runBody` are code
 * entries (size first). Used to build large or hostile modules byte by byte.
 */
export function repeatModule(
  types: Uint8Array,
  n: number,
  body: Uint8Array,
  runBody: Uint8Array,
): Uint8Array {
  const w = new Writer(types.length + n * (body.length + 1) + 256)
  w.bytes(Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0))
  const section = (id: number, fill: (s: Writer) => void) => {
    const s = new Writer(1024)
    fill(s)
    w.byte(id)
    w.u32(s.len)
    w.bytes(s.result())
  }
  section(1, (s) => s.bytes(types))
  section(3, (s) => {
    s.u32(n + 1)
    for (let i = 0; i < n; i++) s.byte(0)
    s.byte(1)
  })
  section(5, (s) => s.bytes(Uint8Array.of(1, 0, 1)))
  section(7, (s) => {
    s.u32(2)
    s.name('memory')
    s.bytes(Uint8Array.of(2, 0))
    s.name('run')
    s.byte(0)
    s.u32(n)
  })
  section(10, (s) => {
    s.u32(n + 1)
    for (let i = 0; i < n; i++) s.bytes(body)
    s.bytes(runBody)
  })
  return w.result()
}

/**
 * A module with a type of `results` i32 results and `functions` functions of that type (bodies:
 * `unreachable`). The review's case is 1,000,000 results and 1,000 functions: about 1 MB, and
 * it took the rewriter 9–26 s (a key of a million joined results per function) before V8
 * rejected it.
 */
export function manyResultsModule(results: number, functions: number): Uint8Array {
  const types = new Writer(results + 16)
  types.u32(2)
  types.bytes(Uint8Array.of(0x60, 0))
  types.u32(results)
  types.bytes(new Uint8Array(results).fill(0x7f))
  types.bytes(Uint8Array.of(0x60, 0, 1, 0x7f))
  return repeatModule(
    types.result(),
    functions,
    Uint8Array.of(3, 0, 0x00, 0x0b),
    Uint8Array.of(4, 0, 0x41, 0, 0x0b),
  )
}

/** How a module ended without the sandbox: the statuses unmetered WebAssembly can reach. */
export interface PlainRun {
  status: 'ok' | 'error' | 'trap'
  output: Uint8Array
}

/**
 * Runs a module as-is — no rewriting, no metering, no limits — with the same host functions
 * (abort traps), for differential tests. Only for modules that end by themselves.
 */
export async function runUnmetered(
  bytes: Uint8Array,
  input: Uint8Array,
  seed: Uint8Array,
): Promise<PlainRun> {
  const { wasm } = await import('../../src/runtime/engine.js')
  const chunks: Uint8Array[] = []
  let memory: { buffer: ArrayBuffer } | undefined
  const mem = () => new Uint8Array(memory!.buffer)
  const module = await wasm.compile(bytes)
  const hostTrap = new Error('abort')
  const output = () => new Uint8Array(Buffer.concat(chunks))
  const imports = {
    plusone: {
      input_len: () => input.length,
      input_read: (dst: number, off: number, len: number) => {
        const n = Math.max(0, Math.min(len >>> 0, input.length - (off >>> 0)))
        if (dst + n > mem().length) throw hostTrap
        mem().set(input.subarray(off, off + n), dst)
        return n
      },
      output_write: (src: number, len: number) => {
        if (src + len > mem().length) throw hostTrap
        chunks.push(mem().slice(src, src + len))
      },
      seed: (dst: number) => mem().set(seed, dst),
      progress: () => {},
    },
    env: {
      abort: () => {
        throw hostTrap
      },
    },
  }
  try {
    const instance = new wasm.Instance(module, imports)
    memory = instance.exports.memory as { buffer: ArrayBuffer }
    const code = (instance.exports.run as () => number)()
    return { status: code === 0 ? 'ok' : 'error', output: output() }
  } catch (err) {
    if (err === hostTrap || err instanceof wasm.RuntimeError) return { status: 'trap', output: output() }
    throw err
  }
}
