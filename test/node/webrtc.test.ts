/**
 * WebRTC private-to-private on loopback (no NAT here; test/nat/webrtc.test.ts has the routers):
 * a relayed connection between two members of a private swarm becomes a WebRTC one that proved
 * membership, and the relayed one is closed; an outsider dialling a member's WebRTC address
 * gets nothing.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { after, before, describe, it } from 'node:test'
import { createNode, describeConnection, newSwarmKey, type PlusoneNode } from '../../src/node/index.js'
import { IceServerError, parseIceServer } from '../../src/ice-servers.js'
import { eventually } from '../mesh.js'

const node = async (swarmKey: Uint8Array | undefined, relay: 'on' | 'off' = 'off'): Promise<PlusoneNode> =>
  createNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    swarmKey,
    relay,
    webrtc: true,
  })

describe('WebRTC private-to-private (loopback)', () => {
  const key = newSwarmKey()
  const nodes: PlusoneNode[] = []
  let relay: PlusoneNode
  let a: PlusoneNode
  let b: PlusoneNode
  let bWebrtc: string

  before(async () => {
    ;[relay, a, b] = await Promise.all([node(key, 'on'), node(key), node(key)])
    nodes.push(relay, a, b)
    const relayAddr = relay.getMultiaddrs()[0]
    await b.dial(relayAddr)
    await b.services.homeRelays.reserveOn(relayAddr)
    const circuit = await eventually('B to hold a reservation on the relay', async () =>
      b
        .getMultiaddrs()
        .map(String)
        .find((m) => m.includes('/p2p-circuit')),
    )
    assert.ok(
      !b.getMultiaddrs().some((m) => m.toString().includes('/webrtc')),
      'WebRTC addresses are not advertised',
    )
    bWebrtc = circuit.replace('/p2p-circuit/', '/p2p-circuit/webrtc/')
  })
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
  })

  // Flaky on this machine's root namespace (about half the runs): node-datachannel refuses the
  // remote host candidates (192.0.2.x / fd00::, "libdatachannel error while adding"), the
  // answering side's peer connection closes and every retry times out; a failed run also leaves
  // native handles that keep the process alive. The NAT lab (test/nat/webrtc.test.ts) covers
  // the upgrade; run this one with PLUSONE_WEBRTC_LOOPBACK=1.
  it('a relayed connection between members is upgraded to WebRTC, which carries their protocols', {
    skip:
      process.env.PLUSONE_WEBRTC_LOOPBACK === '1'
        ? false
        : 'flaky on loopback (node-datachannel refuses host candidates); set PLUSONE_WEBRTC_LOOPBACK=1',
  }, async () => {
    const relayed = await a.dial(multiaddr(bWebrtc.replace('/webrtc', '')))
    assert.equal(describeConnection(relayed).kind, 'relayed')
    const kinds = await eventually(
      'the relayed connection to be replaced by a WebRTC one',
      async () => {
        const k = a.getConnections(b.peerId).map((c) => describeConnection(c).kind)
        return k.length > 0 && k.every((x) => x === 'webrtc') ? k : undefined
      },
      { attempts: 240 },
    ) // up to three 15 s attempts (webrtc.ts UPGRADE_ATTEMPTS)
    assert.deepEqual(kinds, ['webrtc'])
    const conn = a.getConnections(b.peerId)[0]
    assert.equal(conn.encryption, 'native', 'WebRTC brings its own encryption and skips pnet')
    await a.services.membership?.verdict(conn)
    assert.ok((await a.services.ping.ping(b.peerId)) >= 0, 'ping runs over the proven connection')
    assert.deepEqual(
      b.getConnections(a.peerId).map((c) => describeConnection(c).kind),
      ['webrtc'],
    )
    assert.ok(a.services.webrtcUpgrader?.attempts().some((u) => u.ok && u.peer === b.peerId.toString()))
  })

  for (const [name, outsiderKey] of [
    ['another swarm key', newSwarmKey()],
    ['no swarm key', undefined],
  ] as const) {
    it(`an outsider with ${name} gets no connection to a member over WebRTC`, async () => {
      const outsider = await node(outsiderKey)
      nodes.push(outsider)
      await assert.rejects(
        outsider.dial(multiaddr(bWebrtc), {
          signal: AbortSignal.timeout(10_000),
        }),
      )
      assert.equal(outsider.getConnections(b.peerId).length, 0)
      assert.equal(b.getConnections(outsider.peerId).length, 0)
      await outsider.stop()
    })
  }

  it('ICE server URLs are checked: stun:host:port and turn:user:password@host:port', () => {
    assert.deepEqual(parseIceServer('stun:198.18.0.1:3478'), { urls: 'stun:198.18.0.1:3478' })
    assert.deepEqual(parseIceServer('turn:u:p@relay.example:3478?transport=udp'), {
      urls: 'turn:u:p@relay.example:3478?transport=udp',
    })
    for (const bad of [
      'http://x',
      'stun:',
      'stun:u:p@host:1',
      'stun:host:70000',
      'turn:host:1?transport=sctp',
    ]) {
      assert.throws(() => parseIceServer(bad), IceServerError, bad)
    }
  })
})
