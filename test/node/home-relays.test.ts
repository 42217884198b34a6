/**
 * A home's relay reservations on loopback (a relay node and a home): reserved, dropped once the
 * home is reachable (`release`, which the node calls when dial-back says `public`) — no relay
 * address advertised, none renewed — and reserved again when it needs them once more (the node
 * calls `reserve` when dial-back says `private`). test/nat/nat.test.ts checks a UPnP home in the
 * NAT lab ends up with no relay address.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { after, before, describe, it } from 'node:test'
import { createNode, newSwarmKey, type PlusoneNode } from '../../src/node/index.js'
import { eventually } from '../mesh.js'

const node = async (swarmKey: Uint8Array, relay: 'on' | 'off'): Promise<PlusoneNode> =>
  createNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    swarmKey,
    relay,
    upnp: false,
  })

const relayAddresses = (n: PlusoneNode): string[] =>
  n
    .getMultiaddrs()
    .map(String)
    .filter((a) => a.includes('/p2p-circuit'))

describe('a home drops relay reservations it no longer needs (loopback)', () => {
  const key = newSwarmKey()
  let relay: PlusoneNode
  let home: PlusoneNode

  before(async () => {
    ;[relay, home] = await Promise.all([node(key, 'on'), node(key, 'off')])
  })
  after(async () => {
    await Promise.all([relay, home].map((n) => n?.stop()))
  })

  it('reserves, releases (no relay address left), and reserves again', async () => {
    const relayAddr = relay.getMultiaddrs()[0]
    await home.dial(relayAddr)
    await home.services.homeRelays.reserveOn(relayAddr)
    await eventually('the home to advertise an address through the relay', async () =>
      relayAddresses(home).length > 0 ? true : undefined,
    )
    assert.ok(relay.services.relay.reservations().includes(home.peerId.toString()))

    const released = await home.services.homeRelays.release()
    assert.deepEqual(released, [relay.peerId.toString()], 'the relay it held')
    assert.deepEqual(relayAddresses(home), [], 'no relay address is advertised after release')
    assert.equal(home.services.homeRelays.reserving, false)
    // a second release has nothing left to drop
    assert.deepEqual(await home.services.homeRelays.release(), [])

    // private again: the node asks for reservations anew and finds the connected relay
    await home.services.homeRelays.reserve()
    assert.equal(home.services.homeRelays.reserving, true)
    await eventually('the home to hold a reservation again', async () =>
      relayAddresses(home).length > 0 ? true : undefined,
    )
    assert.ok(relayAddresses(home).every((a) => a.includes(`/p2p/${relay.peerId}/p2p-circuit`)))
  })
})
