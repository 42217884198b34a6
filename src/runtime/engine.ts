/**
 * Typed access to the engine's WebAssembly API. The project compiles against ES2023 + Node types,
 * which do not declare the `WebAssembly` namespace, so the little we use is declared here
 * rather than as a global that could clash with another lib.
 */

/** A compiled module; opaque. It cannot be sent to another process (the pool sends bytes). */
export interface WasmModule {
  readonly __wasmModule?: never
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer
  grow(pages: number): number
}

export interface WasmGlobal {
  value: unknown
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>
}

interface WasmErrorConstructor {
  new (message?: string): Error
  prototype: Error
}

export interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>
  validate(bytes: Uint8Array): boolean
  Module: new (bytes: Uint8Array) => WasmModule
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance
  Memory: new (desc: { initial: number; maximum?: number }) => WasmMemory
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, Record<string, unknown>>,
  ): Promise<{ instance: WasmInstance; module: WasmModule }>
  RuntimeError: WasmErrorConstructor
  CompileError: WasmErrorConstructor
  LinkError: WasmErrorConstructor
}

export const wasm: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly
