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
    assert.ok(ds.has(new Key('/peers/0')), 'keys outside the DHT are not counted')
    ds.delete(new Key('/d/record/3'))
    assert.equal(ds.bounded, 2)
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
