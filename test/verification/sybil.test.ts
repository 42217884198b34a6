import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  InvalidAddressError,
  prefixKey,
  selectAwardees,
  UNKNOWN_PREFIX,
} from '../../src/verification/index.js'

describe('prefixKey', () => {
  it('maps IPv4 multiaddrs and bare addresses to their /24', () => {
    assert.equal(prefixKey('/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW'), 'ip4:203.0.113.0/24')
    assert.equal(prefixKey('203.0.113.250'), 'ip4:203.0.113.0/24')
  })

  it('maps IPv6 addresses to their /48, expanding :: and ignoring zones', () => {
    assert.equal(prefixKey('/ip6/2001:db8:abcd:12::1/tcp/4001'), 'ip6:2001:db8:abcd::/48')
    assert.equal(prefixKey('2001:db8::1'), 'ip6:2001:db8:0::/48')
    assert.equal(prefixKey('fe80::1%eth0'), 'ip6:fe80:0:0::/48')
  })

  it('treats IPv4-mapped IPv6 as IPv4', () => {
    assert.equal(prefixKey('::ffff:198.51.100.9'), 'ip4:198.51.100.0/24')
  })

  it('exempts loopback addresses', () => {
    assert.equal(prefixKey('/ip4/127.0.0.1/tcp/1'), undefined)
    assert.equal(prefixKey('/ip6/::1/tcp/1'), undefined)
    assert.equal(prefixKey('::ffff:127.0.0.1'), undefined)
  })

  it('refuses addresses without an IP', () => {
    assert.throws(() => prefixKey('/dns4/example.com/tcp/1'), InvalidAddressError)
    assert.throws(
      () => prefixKey('not an address'),
      (e: Error) => e.name === 'InvalidAddressError',
    )
  })

  it('gives every address in one /24 the same key and addresses in other /24s other keys', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.ipV4(), (a, b) => {
        if (a.startsWith('127.') || b.startsWith('127.')) return
        const same = a.split('.').slice(0, 3).join('.') === b.split('.').slice(0, 3).join('.')
        assert.equal(prefixKey(a) === prefixKey(b), same)
      }),
      { numRuns: 300 },
    )
  })

  it('gives equal keys to equal IPv6 addresses however they are written', () => {
    fc.assert(
      fc.property(fc.ipV6(), (a) => {
        // WHATWG URL parsing rewrites an IPv6 host in its canonical compressed form.
        const canonical = new URL(`http://[${a}]/`).hostname.slice(1, -1)
        assert.equal(prefixKey(canonical), prefixKey(a), `${a} vs ${canonical}`)
      }),
      { numRuns: 300 },
    )
  })
})

describe('selectAwardees', () => {
  const bid = (peer: string, address?: string) => ({ peer, address })

  it('picks the best-ranked bids, one per peer and one per /24', () => {
    const ranked = [
      bid('a', '/ip4/1.2.3.4/tcp/1'),
      bid('a', '/ip4/9.9.9.9/tcp/1'),
      bid('b', '/ip4/1.2.3.5/tcp/1'),
      bid('c', '/ip4/5.6.7.8/tcp/1'),
      bid('d', '/ip4/10.0.0.1/tcp/1'),
    ]
    assert.deepEqual(
      selectAwardees(ranked, { count: 3 }).map((b) => b.peer),
      ['a', 'c', 'd'],
    )
  })

  it('never re-awards a previous executor and counts its prefix', () => {
    const ranked = [bid('a', '1.2.3.4'), bid('b', '1.2.3.9'), bid('c', '4.4.4.4')]
    const previous = [bid('a', '1.2.3.4')]
    assert.deepEqual(
      selectAwardees(ranked, { count: 2, previous }).map((b) => b.peer),
      ['c'],
    )
  })

  it('applies no prefix cap in a private swarm nor to loopback addresses', () => {
    const ranked = [bid('a', '1.2.3.4'), bid('b', '1.2.3.5'), bid('c', '1.2.3.6')]
    assert.equal(selectAwardees(ranked, { count: 3, maxPerPrefix: undefined }).length, 3)
    const local = [
      bid('a', '/ip4/127.0.0.1/tcp/1'),
      bid('b', '/ip4/127.0.0.1/tcp/2'),
      bid('c', '/ip6/::1/tcp/3'),
    ]
    assert.equal(selectAwardees(local, { count: 3 }).length, 3)
  })

  it('puts bids without a readable address in one shared bucket', () => {
    const ranked = [bid('a'), bid('b', '/dns4/x.example/tcp/1'), bid('c', '8.8.8.8')]
    assert.deepEqual(
      selectAwardees(ranked, { count: 3 }).map((b) => b.peer),
      ['a', 'c'],
    )
    assert.equal(UNKNOWN_PREFIX, 'unknown')
  })

  it('never exceeds count, repeats a peer or exceeds the prefix cap', () => {
    const arbBid = fc.record({
      peer: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
      address: fc.option(
        fc.constantFrom('1.1.1.1', '1.1.1.2', '2.2.2.2', '127.0.0.1', '::1', '2001:db8::5'),
        {
          nil: undefined,
        },
      ),
    })
    fc.assert(
      fc.property(
        fc.array(arbBid, { maxLength: 12 }),
        fc.nat({ max: 5 }),
        fc.integer({ min: 1, max: 2 }),
        (ranked, count, cap) => {
          const chosen = selectAwardees(ranked, { count, maxPerPrefix: cap })
          assert.ok(chosen.length <= count)
          assert.equal(new Set(chosen.map((b) => b.peer)).size, chosen.length)
          const per = new Map<string, number>()
          for (const b of chosen) {
            let key: string | undefined = UNKNOWN_PREFIX
            try {
              key = b.address === undefined ? UNKNOWN_PREFIX : prefixKey(b.address)
            } catch {}
            if (key !== undefined) per.set(key, (per.get(key) ?? 0) + 1)
          }
          for (const n of per.values()) assert.ok(n <= cap)
        },
      ),
      { numRuns: 300 },
    )
  })
})
