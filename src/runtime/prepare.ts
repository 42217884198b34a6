/** Validation, rewriting and compilation of an untrusted module. */
import { type WasmModule, wasm } from './engine.js'
import { MAX_MODULE_BYTES } from './limits.js'
import { InvalidModuleError, parseModule } from './parse.js'
import { type RewrittenModule, rewriteModule } from './rewrite.js'

export interface ValidateOptions {
  /** @default MAX_MODULE_BYTES (8 MiB) */
  maxModuleBytes?: number
}

/** A module ready to instantiate: compiled, metered code plus what the host needs to link it. */
export interface PreparedModule {
  module: WasmModule
  memory: { minPages: number; maxPages?: number }
  hasStart: boolean
}

/** Checks the feature set and rewrites; throws {@link InvalidModuleError}. Does not compile. */
export function checkAndRewrite(bytes: Uint8Array, opts: ValidateOptions = {}): RewrittenModule {
  const max = opts.maxModuleBytes ?? MAX_MODULE_BYTES
  if (bytes.length > max)
    throw new InvalidModuleError(
      `is ${bytes.length} bytes; the limit is ${max} bytes (strip debug info or split the task)`,
    )
  return rewriteModule(parseModule(bytes))
}

/** Compiles the rewritten module; a failure is explained in terms of the original module. */
export async function prepareModule(bytes: Uint8Array, opts: ValidateOptions = {}): Promise<PreparedModule> {
  const rw = checkAndRewrite(bytes, opts)
  let module: WasmModule
  try {
    module = await wasm.compile(rw.bytes)
  } catch (err) {
    throw explainCompileFailure(bytes, err)
  }
  return { module, memory: rw.memory, hasStart: rw.hasStart }
}

/** The synchronous twin of {@link prepareModule}, used for validation only. */
export function validateRewritten(bytes: Uint8Array, rw: RewrittenModule): void {
  if (!wasm.validate(rw.bytes)) throw explainCompileFailure(bytes, undefined)
}

function explainCompileFailure(original: Uint8Array, err: unknown): InvalidModuleError {
  try {
    new wasm.Module(original)
  } catch (orig) {
    const why = orig instanceof Error ? orig.message.replace(/^WebAssembly\.Module\(\): /, '') : String(orig)
    return new InvalidModuleError(`is not valid WebAssembly: ${why}`)
  }
  const why = err instanceof Error ? err.message : 'unknown reason'
  return new InvalidModuleError(
    `could not be metered (${why}); please report this module to the plusone developers`,
  )
}
