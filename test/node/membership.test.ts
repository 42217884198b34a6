/**
 * The membership gate (src/node/membership.ts) on loopback TCP connections told to prove
 * membership, as WebRTC connections must: a peer holding the swarm key gets a working
 * connection; a peer with another key, or none, gets no protocol served and no stream from us,
 * and the connection is closed with the real cause.
 */
import assert from 'node:assert/strict'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Connection, Libp2p } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { createLibp2p } from 'libp2p'
import { after, describe, it } from 'node:test'
import { type MembershipError, membershipGate } from '../../src/node/membership.js'
import { newSwarmKey } from '../../src/node/index.js'
import { eventually } from '../mesh.js'

const ECHO = '/test/hello/1.0.0'
const TIMEOUT_MS = 1_000

interface Peer {
  node: Libp2p
  /** Streams its handler was handed, and what they carried. */
  served: number
  received: string
  refused: string[]
}

async function peer(swarmKey?: Uint8Array): Promise<Peer> {
  const p: Peer = { node: undefined as unknown as Libp2p, served: 0, received: '', refused: [] }
  p.node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      ...(swarmKey == null
        ? {}
        : {
            membership: membershipGate({
              swarmKey,
              timeoutMs: TIMEOUT_MS,
              needsProof: () => true,
              onRefused: (_c: Connection, err: MembershipError) => p.refused.push(err.message),
            }),
          }),
    } as Record<string, never>,
  })
  await p.node.handle(ECHO, async (stream) => {
    p.served++
    const lp = lpStream(stream)
    p.received += new TextDecoder().decode((await lp.read()).subarray())
    await lp.write(new TextEncoder().encode('hello'))
    await stream.close()
  })
  return p
}

/** Sends a request on a new stream and returns the peer's greeting. */
async function echo(conn: Connection): Promise<string> {
  const signal = AbortSignal.timeout(5_000)
  const stream = await conn.newStream(ECHO, { signal })
  const lp = lpStream(stream)
  await lp.write(new TextEncoder().encode('member data'), { signal })
  const reply = new TextDecoder().decode((await lp.read({ signal })).subarray())
  await stream.close({ signal })
  return reply
}

describe('membership gate on connections pnet does not protect', () => {
  const key = newSwarmKey()
  const peers: Peer[] = []
  const make = async (k?: Uint8Array): Promise<Peer> => {
    const p = await peer(k)
    peers.push(p)
    return p
  }
  after(async () => {
    await Promise.all(peers.map((p) => p.node.stop()))
  })

  it('two holders of the swarm key prove it and serve each other', async () => {
    const [x, z] = await Promise.all([make(key), make(key)])
    const conn = await x.node.dial(z.node.getMultiaddrs()[0])
    assert.equal(await echo(conn), 'hello')
    assert.equal(z.served, 1)
    const back = z.node.getConnections(x.node.peerId)[0]
    assert.equal(await echo(back), 'hello')
    assert.deepEqual([x.refused, z.refused], [[], []])
  })

  it('a peer with another swarm key is served nothing and its connection is closed', async () => {
    const [x, y] = await Promise.all([make(key), make(newSwarmKey())])
    const conn = await y.node.dial(x.node.getMultiaddrs()[0])
    await assert.rejects(echo(conn))
    await eventually('both sides to drop the connection', async () =>
      x.node.getConnections(y.node.peerId).length === 0 && y.node.getConnections(x.node.peerId).length === 0
        ? true
        : undefined,
    )
    assert.equal(x.served, 0, 'no handler ran for the impostor')
    // y checks x's proof first and finds the wrong key; x sees y break off
    assert.match(y.refused.join('\n'), /does not hold this swarm key/)
    assert.match(x.refused.join('\n'), /does not hold this swarm key|another swarm key/)
  })

  it('a peer without the gate is served nothing and gets no stream from a member', async () => {
    const [x, w] = await Promise.all([make(key), make()])
    // w dials: x waits for a proof that never comes
    const inbound = await w.node.dial(x.node.getMultiaddrs()[0])
    await assert.rejects(echo(inbound))
    await eventually('x to give up on the silent peer', async () =>
      x.refused.some((r) => /no membership proof/.test(r)) ? true : undefined,
    )
    assert.equal(x.served, 0)
    // x dials: w cannot prove anything, and x sends it nothing
    const [x2, w2] = await Promise.all([make(key), make()])
    const outbound = await x2.node.dial(w2.node.getMultiaddrs()[0])
    await assert.rejects(echo(outbound))
    assert.equal(w2.received, '', 'the member sent the outsider nothing')
    assert.match(x2.refused.join('\n'), /does not speak the membership protocol/)
  })
})
