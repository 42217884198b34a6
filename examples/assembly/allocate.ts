// Allocates memory in blocks until it holds the requested amount, writing to every block, and
// reports a checksum. AssemblyScript's allocator asks memory.grow to double the memory and, when
// that is refused, asks for just what it needs, so a task close to its memory limit finishes.
// Input: text "kib blockKib" (default "8192 256"). Output: text "allocated <kib> KiB in <n> blocks, checksum <c>".
import { parseInts, readInput, writeString } from './lib/plusone'

export function run(): i32 {
  const args = parseInts(readInput(), [8192, 256])
  const kib = <i32>args[0]
  const blockKib = <i32>args[1]
  if (kib <= 0 || blockKib <= 0 || blockKib > kib) return 2
  const blocks = new Array<Uint8Array>(0)
  let checksum: u32 = 0
  for (let done = 0; done < kib; done += blockKib) {
    const block = new Uint8Array(blockKib * 1024)
    for (let i = 0; i < block.length; i += 4096) block[i] = <u8>(blocks.length + i)
    for (let i = 0; i < block.length; i += 4096) checksum = checksum * 31 + block[i]
    blocks.push(block)
  }
  writeString(`allocated ${kib} KiB in ${blocks.length} blocks, checksum ${checksum}\n`)
  return 0
}
