import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import xsalsa20 from 'xsalsa20'
import { guardPnetCipher } from '../../src/node/pnet-memory.js'

const KEY = new Uint8Array(32).fill(7)
const nonce = (n: number): Uint8Array => new Uint8Array(24).fill(n)

describe('the pnet cipher guard', () => {
  it('survives MiB-sized writes on many connections and encrypts exactly like one plain cipher', () => {
    // two protected connections, as on a relay; one sends MiB-sized writes now and then
    const conns = [1, 2].map((n) => {
      const s = { inboundXor: xsalsa20(nonce(n), KEY), outboundXor: xsalsa20(nonce(n + 10), KEY) }
      guardPnetCipher(s)
      return s
    })
    const reference = xsalsa20(nonce(11), KEY)
    for (let i = 0; i < 3000; i++) {
      const data = new Uint8Array(i % 50 === 0 ? 3 * 1024 * 1024 : 1000).fill(i & 255)
      const out = conns[i % 2].outboundXor.update(data)
      if (i % 2 === 0) assert.deepEqual(out, reference.update(data), `write ${i}`)
      conns[(i + 1) % 2].inboundXor.update(data.subarray(0, 100))
    }
  })
})
