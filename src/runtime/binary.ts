/**
 * Byte-level reading and writing of the WebAssembly binary format (LEB128, vectors, names).
 * Every read is bounds-checked and throws {@link MalformedModuleError}; nothing here allocates
 * more than the input already occupies.
 */

/** The input is not a well-formed WebAssembly binary at the byte level. */
export class MalformedModuleError extends Error {
  static override name = 'MalformedModuleError'
  constructor(message: string) {
    super(message)
    this.name = 'MalformedModuleError'
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true })
/** V8's kV8MaxWasmStringSize. */
const MAX_NAME_BYTES = 100_000

export class Reader {
  pos: number
  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start
  }

  get done(): boolean {
    return this.pos >= this.end
  }

  fail(what: string): never {
    throw new MalformedModuleError(`${what} at byte ${this.pos}`)
  }

  u8(): number {
    if (this.pos >= this.end) this.fail('unexpected end of data')
    return this.bytes[this.pos++]!
  }

  /** Unsigned LEB128, at most 32 bits. */
  u32(): number {
    let result = 0
    let shift = 0
    for (let i = 0; i < 5; i++) {
      const b = this.u8()
      if (i === 4 && b > 0x0f) this.fail('u32 LEB128 out of range')
      result |= (b & 0x7f) << shift
      if ((b & 0x80) === 0) return result >>> 0
      shift += 7
    }
    return this.fail('u32 LEB128 too long')
  }

  /** Signed LEB128 of at most `bits` bits; skipped, because the rewriter copies immediates verbatim. */
  skipSigned(bits: number): void {
    const max = Math.ceil(bits / 7)
    for (let i = 0; i < max; i++) {
      if ((this.u8() & 0x80) === 0) return
    }
    this.fail(`s${bits} LEB128 too long`)
  }

  /** Signed 33-bit LEB128 as used by block types; returns a JS number. */
  s33(): number {
    let result = 0
    let mul = 1
    for (let i = 0; i < 5; i++) {
      const b = this.u8()
      result += (b & 0x7f) * mul
      mul *= 128
      if ((b & 0x80) === 0) {
        if (b & 0x40) result -= mul
        return result
      }
    }
    return this.fail('s33 LEB128 too long')
  }

  skip(n: number): void {
    if (n < 0 || this.pos + n > this.end) this.fail('unexpected end of data')
    this.pos += n
  }

  /** A UTF-8 name; longer than V8's 100,000-byte limit is malformed. */
  name(): string {
    const len = this.u32()
    if (len > MAX_NAME_BYTES) this.fail(`name of ${len} bytes (the limit is ${MAX_NAME_BYTES})`)
    const start = this.pos
    this.skip(len)
    try {
      return UTF8.decode(this.bytes.subarray(start, start + len))
    } catch {
      return this.fail('name is not valid UTF-8')
    }
  }
}

/** A growable output buffer with in-place patching of fixed-width (padded) LEB128 slots. */
export class Writer {
  buf: Uint8Array
  len = 0
  constructor(initialBytes = 1024) {
    this.buf = new Uint8Array(initialBytes)
  }

  private ensure(extra: number): void {
    const need = this.len + extra
    if (need <= this.buf.length) return
    let cap = this.buf.length * 2
    while (cap < need) cap *= 2
    const next = new Uint8Array(cap)
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
  }

  byte(b: number): void {
    this.ensure(1)
    this.buf[this.len++] = b
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length)
    this.buf.set(src, this.len)
    this.len += src.length
  }

  u32(v: number): void {
    this.ensure(5)
    let x = v >>> 0
    do {
      let b = x & 0x7f
      x >>>= 7
      if (x !== 0) b |= 0x80
      this.buf[this.len++] = b
    } while (x !== 0)
  }

  /** Signed LEB128 for values that fit a JS safe integer. */
  s64(v: number): void {
    this.ensure(10)
    let x = BigInt(v)
    for (;;) {
      const b = Number(x & 0x7fn)
      x >>= 7n
      const signBit = (b & 0x40) !== 0
      if ((x === 0n && !signBit) || (x === -1n && signBit)) {
        this.buf[this.len++] = b
        return
      }
      this.buf[this.len++] = b | 0x80
    }
  }

  /** Reserves a 5-byte padded LEB128 slot and returns its offset for {@link patch}. */
  slot(): number {
    this.ensure(5)
    const at = this.len
    this.len += 5
    return at
  }

  /** Writes an unsigned (or non-negative signed, < 2^34) value into a slot as padded LEB128. */
  patch(at: number, v: number): void {
    if (v < 0 || v >= 2 ** 34) throw new RangeError(`value ${v} does not fit a 5-byte slot`)
    let x = v
    for (let i = 0; i < 4; i++) {
      this.buf[at + i] = (x % 128) | 0x80
      x = Math.floor(x / 128)
    }
    this.buf[at + 4] = x
  }

  name(s: string): void {
    const b = new TextEncoder().encode(s)
    this.u32(b.length)
    this.bytes(b)
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.len)
  }
}
