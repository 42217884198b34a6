/**
 * DHT records from strangers are bounded (issue 11): identities are free, and on main kad-dht's
 * in-memory datastore kept a valid capacity record of every identity any peer sent, and a public
 * key record (`/pk/`) of anyone's. Now the DHT keeps at most a bounded number of entries (least
 * recently written out) and refuses every namespace but plusone's capacity records.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Key } from 'interface-datastore'
import { capacityKey, signCapacity } from '../../src/capacity/index.js'
import { BoundedDatastore, createNode, DHT_DATASTORE_PREFIX, type PlusoneNode } from '../../src/node/index.js'
import { eventually } from '../mesh.js'

const BOUND = 5
const IDENTITIES = 20

describe('the DHT datastore', () => {
  it('keeps at most its bound of DHT entries, least recently written out, and leaves other keys alone', () => {
    const ds = new BoundedDatastore({ prefix: '/d', maxEntries: 3 })
    for (let i = 0; i < 5; i++) ds.put(new Key(`/d/record/${i}`), new Uint8Array([i]))
    ds.put(new Key('/d/record/2'), new Uint8Array([9])) // written again: the newest now
    for (let i = 0; i < 10; i++) ds.put(new Key(`/peers/${i}`), new Uint8Array([i]))
    assert.equal(ds.bounded, 3)
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((i) => ds.has(new Key(`/d/record/${i}`))),
      [false, false, true, true, true],
    )
    assert.ok(ds.has(new Key('/peers/0')), 'peer-store keys are not counted with the DHT’s')
    ds.delete(new Key('/d/record/3'))
    assert.equal(ds.bounded, 2)
  })

  it('keeps at most its bound of peer-store entries, never the node’s own', () => {
    const ds = new BoundedDatastore({ prefix: '/d', maxPeers: 3 })
    ds.put(new Key('/peers/self'), new Uint8Array([0]))
    ds.keep(new Key('/peers/self'))
    for (let i = 0; i < 10; i++) ds.put(new Key(`/peers/${i}`), new Uint8Array([i]))
    ds.put(new Key('/other/x'), new Uint8Array([1]))
    assert.deepEqual(ds.peers, { held: 3, evicted: 7 })
    assert.ok(ds.has(new Key('/peers/self')), 'the node’s own entry stays')
    assert.ok(ds.has(new Key('/peers/9')) && !ds.has(new Key('/peers/6')), 'least recently written out')
    assert.ok(ds.has(new Key('/other/x')), 'other keys are not bounded')
  })
})

describe('a node that strangers connect to from fresh identities', { timeout: 60_000 }, () => {
  const PEERS = 3
  const STRANGERS = 12
  let victim: PlusoneNode
  let store: BoundedDatastore
  let friend: PlusoneNode
  const strangers: PlusoneNode[] = []
  const start = async (datastore?: BoundedDatastore): Promise<PlusoneNode> =>
    createNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      datastore,
    })
  before(async () => {
    store = new BoundedDatastore({ prefix: DHT_DATASTORE_PREFIX, maxPeers: PEERS })
    victim = await start(store)
  })
  after(async () => {
    await Promise.all([friend, ...strangers].map((n) => n?.stop()))
    await victim?.stop()
  })

  it(`holds at most ${PEERS} peer-store entries of ${STRANGERS} identities, and still answers identify`, async (t) => {
    for (let i = 0; i < STRANGERS; i++) {
      const stranger = await start()
      strangers.push(stranger)
      await stranger.dial(victim.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
      // identify has run once the stranger knows the victim's protocols
      await eventually('the stranger identified the victim', async () =>
        (await stranger.peerStore.get(victim.peerId)).protocols.length > 0 ? true : undefined,
      )
      await stranger.stop()
    }
    const held = (await victim.peerStore.all()).length
    t.diagnostic(`victim holds ${held} peers, ${JSON.stringify(store.peers)}`)
    assert.ok(store.peers.held <= PEERS, `at most ${PEERS} entries, not ${store.peers.held}`)
    assert.ok(store.peers.evicted >= STRANGERS - PEERS)
    assert.ok(held <= PEERS + 1, 'the peer store lists only what it holds (and the node itself)')
    // the node's own entry survived the flood: a newcomer still identifies it
    friend = await start()
    await friend.dial(victim.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
    const protocols = await eventually('a newcomer identified the victim', async () => {
      const p = (await friend.peerStore.get(victim.peerId)).protocols
      return p.length > 0 ? p : undefined
    })
    assert.ok(protocols.includes('/ipfs/id/1.0.0'), `identify answered: ${protocols.join(', ')}`)
  })
})

describe('a node flooded with strangers’ DHT records', { timeout: 60_000 }, () => {
  let victim: PlusoneNode
  let attacker: PlusoneNode
  let store: BoundedDatastore
  before(async () => {
    store = new BoundedDatastore({ prefix: DHT_DATASTORE_PREFIX, maxEntries: BOUND })
    victim = await createNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      datastore: store,
    })
    attacker = await createNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
    })
    await attacker.dial(victim.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
  })
  after(async () => {
    await attacker?.stop()
    await victim?.stop()
  })

  /** Puts from the attacker; how many PUT_VALUEs the victim answered (stored). */
  async function put(key: Uint8Array, value: Uint8Array): Promise<number> {
    let stored = 0
    for await (const ev of attacker.services.dht.put(key, value, { signal: AbortSignal.timeout(10_000) })) {
      if (ev.name === 'PEER_RESPONSE' && ev.messageName === 'PUT_VALUE') stored++
    }
    return stored
  }

  it(`holds at most ${BOUND} of ${IDENTITIES} identities’ valid capacity records`, async (t) => {
    const records: Array<[Uint8Array, Uint8Array]> = []
    for (let i = 0; i < IDENTITIES; i++) {
      const key = await generateKeyPair('Ed25519')
      const record = await signCapacity(key, {
        cores: 1,
        memoryMB: 64,
        features: ['wasm'],
        price: 1,
        seq: 1,
        expiresAt: Date.now() + 3_600_000,
        maxTasks: 1,
        version: 'sybil',
      })
      records.push([capacityKey(peerIdFromPrivateKey(key).toString()), record])
    }
    // the first put reaches the victim once the attacker's DHT has it in its routing table
    let accepted = await eventually('the attacker’s first put reaches the victim', async () =>
      (await put(...records[0])) === 1 ? 1 : undefined,
    )
    for (const [key, record] of records.slice(1)) accepted += await put(key, record)
    t.diagnostic(
      `victim accepted ${accepted} puts, holds ${store.bounded} DHT entries, evicted ${store.evicted}`,
    )
    assert.equal(accepted, IDENTITIES, 'every record was valid, and accepted')
    assert.ok(store.bounded <= BOUND, `at most ${BOUND} entries kept, not ${store.bounded}`)
    assert.ok(store.evicted >= IDENTITIES - BOUND)
  })

  it('refuses a public key record (/pk/), a namespace plusone does not store', async () => {
    const key = await generateKeyPair('Ed25519')
    const pkKey = new Uint8Array([...new TextEncoder().encode('/pk/'), ...key.publicKey.toMultihash().bytes])
    const before = store.bounded + store.evicted
    const stored = await put(pkKey, publicKeyToProtobuf(key.publicKey))
    assert.equal(stored, 0, 'the victim refused it')
    assert.equal(store.bounded + store.evicted, before, 'nothing was written')
  })
})
