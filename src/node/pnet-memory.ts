/**
 * A guard for a crash in `xsalsa20`, the cipher under `@libp2p/pnet`.
 *
 * Every xsalsa20 instance in the process shares one WebAssembly memory but keeps its own view
 * of it. When one instance grows the memory (an update larger than what is free, e.g. a relay
 * forwarding a MiB-sized blob), the views of all the others are detached and read as empty; each
 * of them then "grows" the memory again on its next update, which detaches the rest once more.
 * Under traffic the memory climbs to WebAssembly's limit and the daemon dies with
 * `RangeError: WebAssembly.Memory.grow(): Maximum memory size exceeded` (seen in the NAT lab on
 * the relay and on the submitter). The guard re-attaches a detached view before each update and
 * feeds large inputs in pieces small enough that the memory rarely needs to grow at all.
 * XSalsa20 is a stream cipher that keeps its position across updates, so pieces give the same
 * bytes as one call.
 */
/// <reference path="../types/xsalsa20.d.ts" />
import xsalsa20 from 'xsalsa20'

/** Largest piece handed to the cipher at once; the shared memory starts at 640 KiB. */
const PIECE_BYTES = 16 * 1024

interface WasmXor {
  _memory?: Uint8Array
}

interface Xor {
  _xor?: WasmXor | null
  update(input: Uint8Array, output?: Uint8Array): Uint8Array
}

/** A current view of the shared memory: a new instance takes one, then gives its slot back. */
function currentMemory(): Uint8Array | undefined {
  const probe = xsalsa20(new Uint8Array(24), new Uint8Array(32)) as unknown as Xor & { finalize(): void }
  const view = probe._xor?._memory
  probe.finalize()
  return view
}

function guard(xor: Xor): void {
  const update = xor.update.bind(xor)
  xor.update = (input, output = new Uint8Array(input.length)) => {
    for (let i = 0; i < input.length; i += PIECE_BYTES) {
      const wasm = xor._xor
      if (wasm?._memory != null && wasm._memory.byteLength === 0) wasm._memory = currentMemory()
      update(input.subarray(i, i + PIECE_BYTES), output.subarray(i, i + PIECE_BYTES))
    }
    return output
  }
}

/** Applies the guard to both directions of a connection protected by `@libp2p/pnet`. */
export function guardPnetCipher(protectedStream: object): void {
  const s = protectedStream as { inboundXor?: Xor; outboundXor?: Xor }
  if (s.inboundXor != null) guard(s.inboundXor)
  if (s.outboundXor != null) guard(s.outboundXor)
}
