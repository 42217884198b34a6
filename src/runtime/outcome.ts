/**
 * Outcomes and their canonical encoding. Replicas compare `outcomeHash`, so the encoding holds
 * only what is deterministic: status, code, fuel used and the output hash — never `message`,
 * whose text comes from the engine and differs between machines and versions.
 *
 * Canonical form, 47 bytes, big-endian:
 *   u8  version (1)
 *   u8  status  (ok 0, error 1, trap 2, out_of_fuel 3, out_of_memory 4, output_too_large 5, invalid_module 6)
 *   u8  has code (0 | 1)
 *   i32 code (0 when absent)
 *   u64 fuel used
 *   32  sha256 of the output
 */
import { createHash } from 'node:crypto'

export type OutcomeStatus =
  | 'ok'
  | 'error'
  | 'trap'
  | 'out_of_fuel'
  | 'out_of_memory'
  | 'output_too_large'
  | 'invalid_module'

export const OUTCOME_STATUSES: readonly OutcomeStatus[] = [
  'ok',
  'error',
  'trap',
  'out_of_fuel',
  'out_of_memory',
  'output_too_large',
  'invalid_module',
]

export interface Outcome {
  status: OutcomeStatus
  /** The non-zero value `run` returned, for status `error`. */
  code?: number
  /** A human explanation (trap reason, validation sentence). Not part of the canonical form. */
  message?: string
  fuelUsed: bigint
  /** Everything the task wrote with output_write before it ended (also for failures). */
  output: Uint8Array
  /** sha256 of `output`. */
  outputHash: Uint8Array
}

/** The canonical part of an outcome, as decoded from its encoding. */
export type CanonicalOutcome = Pick<Outcome, 'status' | 'code' | 'fuelUsed' | 'outputHash'>

export const OUTCOME_ENCODING_VERSION = 1
export const OUTCOME_ENCODED_BYTES = 47

/** The encoded outcome is not one this version understands. */
export class InvalidOutcomeEncodingError extends Error {
  static override name = 'InvalidOutcomeEncodingError'
  constructor(message: string) {
    super(message)
    this.name = 'InvalidOutcomeEncodingError'
  }
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

export function encodeOutcome(o: CanonicalOutcome): Uint8Array {
  if (o.outputHash.length !== 32) throw new RangeError('outputHash must be 32 bytes')
  const out = new Uint8Array(OUTCOME_ENCODED_BYTES)
  const dv = new DataView(out.buffer)
  out[0] = OUTCOME_ENCODING_VERSION
  out[1] = OUTCOME_STATUSES.indexOf(o.status)
  out[2] = o.code === undefined ? 0 : 1
  dv.setInt32(3, o.code ?? 0)
  dv.setBigUint64(7, o.fuelUsed)
  out.set(o.outputHash, 15)
  return out
}

export function decodeOutcome(bytes: Uint8Array): CanonicalOutcome {
  if (bytes.length !== OUTCOME_ENCODED_BYTES)
    throw new InvalidOutcomeEncodingError(`an outcome is ${OUTCOME_ENCODED_BYTES} bytes, got ${bytes.length}`)
  if (bytes[0] !== OUTCOME_ENCODING_VERSION)
    throw new InvalidOutcomeEncodingError(`unknown outcome version ${bytes[0]}`)
  const status = OUTCOME_STATUSES[bytes[1]!]
  if (status === undefined) throw new InvalidOutcomeEncodingError(`unknown outcome status ${bytes[1]}`)
  if (bytes[2]! > 1) throw new InvalidOutcomeEncodingError('malformed code flag')
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const code = dv.getInt32(3)
  if (bytes[2] === 0 && code !== 0) throw new InvalidOutcomeEncodingError('code present without its flag')
  const out: CanonicalOutcome = { status, fuelUsed: dv.getBigUint64(7), outputHash: bytes.slice(15) }
  if (bytes[2] === 1) out.code = code
  return out
}

export function outcomeHash(o: CanonicalOutcome): Uint8Array {
  return sha256(encodeOutcome(o))
}

const EMPTY = new Uint8Array(0)
const EMPTY_HASH = sha256(EMPTY)

export function invalidModuleOutcome(message: string): Outcome {
  return { status: 'invalid_module', message, fuelUsed: 0n, output: EMPTY, outputHash: EMPTY_HASH }
}
