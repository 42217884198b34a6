/** Shared fixtures for the runtime tests: built example modules and small limits. */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
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
