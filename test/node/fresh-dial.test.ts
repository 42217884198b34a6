/**
 * freshDialer: a dial that fails on stale stored addresses (another home's LAN address) looks
 * the peer up in the network, replaces the stored addresses with the current ones, and dials
 * again; a caller that gave up still leaves the lookup done for its next attempt.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId, Stream } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { describe, it } from 'node:test'
import { type FreshDialer, freshDialer } from '../../src/node/index.js'

const STALE = '/ip4/198.19.1.2/tcp/4101'
const RELAYED =
  '/ip4/198.18.0.1/tcp/4101/p2p/12D3KooWEwrcyEMd1wo3wqURbAjuB37GJmGQjhd5E9z26ENPvEoY/p2p-circuit'

/** A node whose peer store holds `stored` for the peer and whose network knows `current`. */
function fakeNode(peer: PeerId, stored: string[], current: string[]) {
  const book = new Map([[peer.toString(), stored.map((a) => multiaddr(a))]])
  const calls = { dials: [] as string[][], lookups: 0 }
  const node = {
    getConnections: () => [],
    peerStore: {
      get: async (p: PeerId) => ({
        addresses: (book.get(p.toString()) ?? []).map((m) => ({ multiaddr: m, isCertified: false })),
      }),
      patch: async (p: PeerId, data: { multiaddrs?: Multiaddr[] }) => {
        book.set(p.toString(), data.multiaddrs ?? [])
      },
    },
    peerRouting: {
      findPeer: async (p: PeerId) => {
        calls.lookups++
        return { id: p, multiaddrs: current.map((a) => multiaddr(a)) }
      },
    },
    dialProtocol: async (p: PeerId, _protocols: string | string[], options?: { signal?: AbortSignal }) => {
      const addrs = (book.get(p.toString()) ?? []).map(String)
      calls.dials.push(addrs)
      if (addrs.some((a) => a.includes('/p2p-circuit'))) return { protocol: '/x' } as unknown as Stream
      // the stale address hangs (200 ms here) unless the caller gives up first
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, 200)
        options?.signal?.addEventListener('abort', () => {
          clearTimeout(timer)
          reject(options.signal?.reason)
        })
      })
      throw new Error('connect ENETUNREACH 198.19.1.2:4101')
    },
  }
  const dialer: FreshDialer = freshDialer(node as never, defaultLogger().forComponent('test:fresh-dial'))
  return { dialer, calls, book }
}

describe('freshDialer', () => {
  it('replaces stale addresses with the network’s and dials again', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const { dialer, calls, book } = fakeNode(peer, [STALE], [RELAYED])
    await dialer.dialProtocol(peer, '/x')
    assert.equal(calls.lookups, 1)
    assert.deepEqual(calls.dials, [[STALE], [RELAYED]])
    assert.deepEqual(book.get(peer.toString())?.map(String), [RELAYED], 'the stale address is gone')
  })

  it('a caller that gave up leaves the lookup done for its next attempt', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const { dialer, calls, book } = fakeNode(peer, [STALE], [RELAYED])
    await assert.rejects(dialer.dialProtocol(peer, '/x', { signal: AbortSignal.timeout(50) }))
    for (let i = 0; i < 100 && !book.get(peer.toString())?.map(String).includes(RELAYED); i++)
      await new Promise((r) => setTimeout(r, 10))
    await dialer.dialProtocol(peer, '/x', { signal: AbortSignal.timeout(1_000) })
    assert.equal(calls.lookups, 1)
    assert.deepEqual(calls.dials.at(-1), [RELAYED])
  })

  it('when the network knows nothing newer, the first error stands and no second dial is made', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const { dialer, calls } = fakeNode(peer, [STALE], [STALE])
    await assert.rejects(dialer.dialProtocol(peer, '/x'), /ENETUNREACH/)
    assert.equal(calls.dials.length, 1)
    // and the network is not asked again at once
    await assert.rejects(dialer.dialProtocol(peer, '/x'), /ENETUNREACH/)
    assert.equal(calls.lookups, 1)
  })
})
