/**
 * Gossip between two peers survives one of their connections closing while another stays open
 * (issue 12: the dedupe closes the redundant one of a pair; a peer may close one too). On main,
 * gossipsub reopened nothing on the connection left, and a stream that closed while libp2p was
 * still handing it to gossipsub stayed in gossipsub's table for good: the peer never learnt our
 * subscriptions, even when both ends identified the remaining connection again (what the dedupe
 * did then). src/node/gossip-streams.ts has the mechanism.
 *
 * The nodes here keep every connection (`dedupe: false`) so the test chooses what closes. The
 * late hand-over is made certain with a datastore that holds node A's peer-store writes about B
 * one at a time: `newStream()` writes the negotiated protocol to the peer store before it
 * returns, as it does on a busy node, where that write waits behind identify's.
 */
import assert from 'node:assert/strict'
import { after, afterEach, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection, IdentifyResult } from '@libp2p/interface'
import type { Key } from 'interface-datastore'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  BoundedDatastore,
  createNode,
  DHT_DATASTORE_PREFIX,
  GossipStreamGuard,
  type GossipStreamGuardComponents,
  MAX_REPAIRS_PER_WINDOW,
  type PlusoneNode,
  peerStoreKey,
} from '../../src/node/index.js'
import { waitFor } from '../market/helpers.js'

const TOPIC = 'plusone-test/gossip-streams'
const BOUND_MS = 10_000

const start = async (datastore?: BoundedDatastore): Promise<PlusoneNode> => {
  const node = await createNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    dedupe: false,
    topics: [TOPIC],
    datastore,
  })
  node.services.pubsub.subscribe(TOPIC)
  return node
}

const sees = (x: PlusoneNode, y: PlusoneNode): boolean =>
  x.services.pubsub.getSubscribers(TOPIC).some((p) => p.equals(y.peerId))

/**
 * Resolves once `x` hears `y` announce its subscriptions (from now on, bounded) and sees it
 * subscribed: gossipsub announces them on each new outbound stream, so this is `y`'s stream to
 * `x` being up.
 */
function hears(x: PlusoneNode, y: PlusoneNode): Promise<void> {
  let heard = false
  return waitFor(
    () => heard && sees(x, y),
    [
      (fn) => {
        const on = (evt: CustomEvent<{ peerId: { equals(p: unknown): boolean } }>): void => {
          if (evt.detail.peerId.equals(y.peerId)) heard = true
          fn()
        }
        x.services.pubsub.addEventListener('subscription-change', on)
        return () => x.services.pubsub.removeEventListener('subscription-change', on)
      },
    ],
    AbortSignal.timeout(BOUND_MS),
  ).catch(() => assert.fail(`${name(x)} never heard ${name(y)}'s subscriptions`))
}

let names = new Map<string, string>()
const name = (n: PlusoneNode): string => names.get(n.peerId.toString()) ?? '?'

/** `from` publishes; resolves once `to` received it (bounded). */
async function delivered(from: PlusoneNode, to: PlusoneNode): Promise<void> {
  const data = new TextEncoder().encode(`${name(from)}→${name(to)} ${Math.random()}`)
  const arrived = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      to.services.pubsub.removeEventListener('message', on)
      reject(new Error(`a message from ${name(from)} never reached ${name(to)}`))
    }, BOUND_MS)
    const on = (evt: CustomEvent<{ data: Uint8Array }>): void => {
      if (Buffer.compare(Buffer.from(evt.detail.data), Buffer.from(data)) !== 0) return
      clearTimeout(timer)
      to.services.pubsub.removeEventListener('message', on)
      resolve()
    }
    to.services.pubsub.addEventListener('message', on)
  })
  await from.services.pubsub.publish(TOPIC, data)
  await arrived
}

/** Resolves once `node` has identified `peer` over a connection not in `known` (bounded). */
const identified = (node: PlusoneNode, peer: PlusoneNode, known: Set<string>): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      node.removeEventListener('peer:identify', on)
      reject(new Error(`${name(node)} never identified the second connection`))
    }, BOUND_MS)
    const on = (evt: CustomEvent<IdentifyResult>): void => {
      const c = evt.detail.connection
      if (!c.remotePeer.equals(peer.peerId) || known.has(c.id)) return
      clearTimeout(timer)
      node.removeEventListener('peer:identify', on)
      resolve()
    }
    node.addEventListener('peer:identify', on)
  })

const ids = (node: PlusoneNode, peer: PlusoneNode): Set<string> =>
  new Set(node.getConnections(peer.peerId).map((c) => c.id))

/** `dialler` opens another connection to `peer`; resolves once both ends identified it. */
async function secondConnection(dialler: PlusoneNode, peer: PlusoneNode): Promise<Connection> {
  const both = Promise.all([
    identified(dialler, peer, ids(dialler, peer)),
    identified(peer, dialler, ids(peer, dialler)),
  ])
  const conn = await dialler.dial(peer.getMultiaddrs()[0], {
    force: true,
    signal: AbortSignal.timeout(BOUND_MS),
  })
  await both
  return conn
}

/**
 * A node's datastore that, once watching a key, holds each write to it until `onWrite` has
 * returned: while one is held, the peer store's lock for that peer keeps every other write about
 * the peer waiting behind it.
 */
class HeldWrites extends BoundedDatastore {
  #key: string | undefined
  #onWrite: () => Promise<void> = async () => {}
  #queue: Promise<unknown> = Promise.resolve()

  watch(key: Key, onWrite: () => Promise<void>): void {
    this.#key = key.toString()
    this.#onWrite = onWrite
  }

  // the peer store awaits what put returns; BoundedDatastore itself answers at once
  override put(key: Key, val: Uint8Array, options?: { signal?: AbortSignal }): Key {
    if (key.toString() !== this.#key) return super.put(key, val, options)
    const done = this.#queue.then(() => this.#onWrite()).then(() => super.put(key, val, options))
    this.#queue = done.catch(() => {})
    return done as unknown as Key
  }
}

describe('gossip between two peers when one of their connections closes and another stays open', {
  timeout: 60_000,
}, () => {
  let nodes: PlusoneNode[] = []
  afterEach(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    nodes = []
  })
  after(() => {
    names = new Map()
  })

  const pair = async (): Promise<[PlusoneNode, PlusoneNode]> => {
    nodes = [await start(), await start()]
    names = new Map(nodes.map((n, i) => [n.peerId.toString(), 'AB'[i]]))
    return [nodes[0], nodes[1]]
  }

  for (const closer of ['A', 'B'] as const) {
    it(`${closer} closes the connection that carried gossip both ways: each end hears the other's subscriptions again and messages flow both ways`, async () => {
      const [a, b] = await pair()
      const heard = [hears(a, b), hears(b, a)]
      const first = await a.dial(b.getMultiaddrs()[0], { signal: AbortSignal.timeout(BOUND_MS) })
      await Promise.all(heard)
      await secondConnection(b, a)
      // B's end of the first connection: the one B did not dial
      const firstAtB = b.getConnections(a.peerId).find((c) => c.direction === 'inbound')
      assert.ok(firstAtB != null)
      const again = [hears(a, b), hears(b, a)]
      await (closer === 'A' ? first : firstAtB).close()
      await Promise.all(again)
      await delivered(a, b)
      await delivered(b, a)
    })
  }

  it('the connection closes while gossipsub’s first stream on it is being handed over: each end still learns the other’s subscriptions and messages flow both ways, with both ends identifying the other connection again', async () => {
    const store = new HeldWrites({ prefix: DHT_DATASTORE_PREFIX })
    nodes = [await start(store), await start()]
    const [a, b] = nodes
    names = new Map(nodes.map((n, i) => [n.peerId.toString(), 'AB'[i]]))
    const protocols = new Set(a.services.pubsub.protocols)
    let cut: Connection | undefined
    const openToB = (): Connection[] => a.getConnections(b.peerId).filter((c) => c.status === 'open')
    // each write about B waits while A holds one connection to B (identify's among them, so
    // gossipsub opens nothing before both connections are up); at the first write that finds
    // A's gossipsub stream negotiated, gossipsub has not been handed it (newStream() writes
    // after negotiating): its connection is closed before that write goes on
    store.watch(peerStoreKey(b.peerId), async () => {
      if (cut != null) return
      if (openToB().length === 1)
        await waitFor(
          () => openToB().length > 1,
          [
            (fn) => {
              a.addEventListener('connection:open', fn)
              return () => a.removeEventListener('connection:open', fn)
            },
          ],
          AbortSignal.timeout(BOUND_MS),
        )
      const carrying = openToB().find((c) =>
        c.streams.some((s) => s.direction === 'outbound' && protocols.has(s.protocol)),
      )
      if (carrying == null) return
      cut = carrying
      await carrying.close()
    })
    const dials = [
      a.dial(b.getMultiaddrs()[0], { signal: AbortSignal.timeout(BOUND_MS) }),
      b.dial(a.getMultiaddrs()[0], { force: true, signal: AbortSignal.timeout(BOUND_MS) }),
    ]
    const heard = [hears(a, b), hears(b, a)]
    await Promise.all(dials)
    await waitFor(
      () => cut != null && cut.status === 'closed',
      [
        (fn) => {
          a.addEventListener('connection:close', fn)
          return () => a.removeEventListener('connection:close', fn)
        },
      ],
      AbortSignal.timeout(BOUND_MS),
    ).catch(() => assert.fail('A’s gossipsub stream was never caught being handed over'))
    const [ab] = a.getConnections(b.peerId).filter((c) => c.status === 'open')
    const [ba] = b.getConnections(a.peerId).filter((c) => c.status === 'open')
    assert.ok(ab != null && ba != null, 'the other connection stays open')
    // what the dedupe did after a close on main: gossipsub's onConnect runs again on both ends
    await Promise.all([
      a.services.identify.identify(ab, { signal: AbortSignal.timeout(BOUND_MS) }),
      b.services.identify.identify(ba, { signal: AbortSignal.timeout(BOUND_MS) }),
    ])
    await Promise.all(heard)
    await delivered(a, b)
    await delivered(b, a)
  })
})

describe('the gossipsub stream guard against a peer that keeps closing its connections', () => {
  it(`reopens gossipsub's stream at most ${MAX_REPAIRS_PER_WINDOW} times a window, however often a connection closes`, async () => {
    const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    // one open connection to the peer, on which no gossipsub stream is ever left open
    const conn = {
      remotePeer: peer,
      status: 'open',
      direction: 'outbound',
      limits: undefined,
      direct: true,
      timeline: { open: 1 },
      streams: [],
    }
    let told = 0
    const topology = {
      onConnect: () => {
        told++
      },
    }
    const events = new EventTarget()
    const pubsub = Object.assign(new EventTarget(), {
      protocols: ['/meshsub/1.2.0', '/meshsub/1.1.0'],
      getPeers: () => [peer],
    })
    const components = {
      peerId: self,
      // gossipsub registers one topology for each of its protocols, the same object
      registrar: { getTopologies: () => [topology] },
      connectionManager: { getConnections: () => [conn] },
      events,
      logger: defaultLogger(),
      pubsub,
    } as unknown as GossipStreamGuardComponents
    const guard = new GossipStreamGuard(components)
    await guard.start()
    for (let i = 0; i < 3 * MAX_REPAIRS_PER_WINDOW; i++) {
      events.dispatchEvent(new CustomEvent('connection:close', { detail: { remotePeer: peer } }))
      await new Promise((resolve) => setImmediate(resolve))
    }
    await guard.stop()
    assert.equal(told, MAX_REPAIRS_PER_WINDOW, 'gossipsub told of the peer once per repair, within the bound')
    assert.equal(guard.stats.reopened, MAX_REPAIRS_PER_WINDOW)
  })
})
