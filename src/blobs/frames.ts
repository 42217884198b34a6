/**
 * Wire framing of `/plusone/blob/1.0.0`: unsigned-varint length prefixes and a reader that
 * hands out frame bodies as views of the received buffers (no copies).
 */

/** Longest varint we accept for a length: 5 bytes covers 32 bits. */
const MAX_VARINT_BYTES = 5

export function varintBytes(value: number): number {
  let n = 1
  while (value >= 0x80) {
    value = Math.floor(value / 128)
    n++
  }
  return n
}

/** Writes `value` as an unsigned varint at `target[offset]`; returns the bytes written. */
export function writeVarint(value: number, target: Uint8Array, offset = 0): number {
  let i = offset
  while (value >= 0x80) {
    target[i++] = (value & 0x7f) | 0x80
    value = Math.floor(value / 128)
  }
  target[i++] = value
  return i - offset
}

/** `varint(bytes.length) || bytes` as one buffer. */
export function lengthPrefixed(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(varintBytes(bytes.byteLength) + bytes.byteLength)
  out.set(bytes, writeVarint(bytes.byteLength, out))
  return out
}

/** The stream ended, or sent a malformed length. `truncated` tells which. */
export class FrameError extends Error {
  static override name = 'FrameError'
  constructor(
    message: string,
    readonly truncated: boolean,
  ) {
    super(message)
    this.name = 'FrameError'
  }
}

type Incoming = Uint8Array | Iterable<Uint8Array>

/**
 * Pulls length-prefixed frames from an async iterable of byte chunks (a libp2p v3 stream).
 * Every read is bounded by the caller's maximum.
 */
export class FrameReader {
  private readonly pieces: Uint8Array[] = []
  private head = 0
  private buffered = 0
  private readonly source: AsyncIterator<Incoming>

  constructor(source: AsyncIterable<Incoming>) {
    this.source = source[Symbol.asyncIterator]()
  }

  /** Pulls one more chunk; false at the end of the stream. */
  private async fill(): Promise<boolean> {
    const next = await this.source.next()
    if (next.done === true) return false
    const value = next.value
    if (value instanceof Uint8Array) this.push(value)
    else for (const piece of value) this.push(piece)
    return true
  }

  private push(piece: Uint8Array): void {
    if (piece.byteLength === 0) return
    this.pieces.push(piece)
    this.buffered += piece.byteLength
  }

  /** Reads a varint length, at most `max`. Returns undefined on a clean end of stream. */
  async readLength(max: number): Promise<number | undefined> {
    let value = 0
    let scale = 1
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.buffered === 0 && !(await this.fill())) {
        if (i === 0) return undefined
        throw new FrameError('stream ended inside a length prefix', true)
      }
      const byte = this.takeByte()
      value += (byte & 0x7f) * scale
      if (value > max) throw new FrameError(`frame length ${value} exceeds ${max}`, false)
      if ((byte & 0x80) === 0) return value
      scale *= 128
    }
    throw new FrameError('length prefix too long', false)
  }

  /** Reads exactly `length` bytes into one buffer (for small frames such as headers). */
  async readExact(length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length)
    let at = 0
    for await (const piece of this.readBody(length)) {
      out.set(piece, at)
      at += piece.byteLength
    }
    return out
  }

  /** Yields the next `length` bytes as views of the received buffers. */
  async *readBody(length: number): AsyncGenerator<Uint8Array> {
    let remaining = length
    while (remaining > 0) {
      if (this.buffered === 0 && !(await this.fill())) {
        throw new FrameError(`stream ended ${remaining} bytes before the end of a frame`, true)
      }
      while (remaining > 0 && this.buffered > 0) {
        const piece = this.pieces[this.head]!
        if (piece.byteLength <= remaining) {
          this.pieces[this.head++] = EMPTY
          this.compact()
          this.buffered -= piece.byteLength
          remaining -= piece.byteLength
          yield piece
        } else {
          this.pieces[this.head] = piece.subarray(remaining)
          this.buffered -= remaining
          const part = piece.subarray(0, remaining)
          remaining = 0
          yield part
        }
      }
    }
  }

  /** Ends iteration of the source (releases the stream's listeners). */
  async close(): Promise<void> {
    await this.source.return?.()
  }

  private takeByte(): number {
    const piece = this.pieces[this.head]!
    const byte = piece[0]!
    this.buffered--
    if (piece.byteLength === 1) {
      this.pieces[this.head++] = EMPTY
      this.compact()
    } else {
      this.pieces[this.head] = piece.subarray(1)
    }
    return byte
  }

  private compact(): void {
    if (this.head === this.pieces.length) {
      this.pieces.length = 0
      this.head = 0
    } else if (this.head > 1024) {
      this.pieces.splice(0, this.head)
      this.head = 0
    }
  }
}

const EMPTY = new Uint8Array(0)
