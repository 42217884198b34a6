import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  type Capacity,
  capacityKey,
  capacitySelector,
  capacityValidator,
  capacityValidatorWithMemory,
  InvalidCapacityRecordError,
  signCapacity,
  verifyCapacity,
} from '../../src/capacity/index.js'
import { createNode, newSwarmKey, type PlusoneNode } from '../../src/node/index.js'
import type { Daemon } from '../../src/daemon/index.js'
import { connectedTo, createMesh, eventually, type Mesh } from '../mesh.js'

const NODES = 5
const HOUR_MS = 60 * 60 * 1000

type Offer = Omit<Capacity, 'peerId'>

function offer(seq: number, over: Partial<Offer> = {}): Offer {
  return {
    cores: 2,
    memoryMB: 1024,
    features: ['wasm'],
    price: 5,
    seq,
    expiresAt: Date.now() + HOUR_MS,
    maxTasks: 1,
    version: 'test',
    ...over,
  }
}

const idOf = (d: Daemon): string => d.node.peerId.toString()

/** Every value a DHT get through `node` yields for `key`, valid or not (bounded by `timeoutMs`). */
async function valuesFrom(node: PlusoneNode, key: Uint8Array, timeoutMs = 10_000): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  try {
    for await (const ev of node.services.dht.get(key, { signal: AbortSignal.timeout(timeoutMs) })) {
      if (ev.name === 'VALUE') out.push(ev.value)
    }
  } catch (err) {
    // no valid record anywhere ends the get with NotFound; a timeout is a failure of its own
    if ((err as Error).name !== 'NotFoundError') throw err
  }
  return out
}

/**
 * Puts `value` under `key` from `node`, whose own store takes it unchecked (a local put skips the
 * validator), and counts what the remote peers did with it.
 */
async function putFrom(
  node: PlusoneNode,
  key: Uint8Array,
  value: Uint8Array,
): Promise<{ stored: number; refused: number }> {
  let stored = 0
  let refused = 0
  for await (const ev of node.services.dht.put(key, value, { signal: AbortSignal.timeout(20_000) })) {
    if (ev.name === 'PEER_RESPONSE' && ev.messageName === 'PUT_VALUE') stored++
    if (ev.name === 'QUERY_ERROR') refused++
  }
  return { stored, refused }
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.byteLength === b.byteLength && a.every((x, i) => x === b[i])

describe('capacity records in the DHT (5 nodes, private swarm)', () => {
  const swarmKey = newSwarmKey()
  let mesh: Mesh
  /** A swarm member that forges: its own store takes anything, the others judge. */
  let forger: PlusoneNode

  before(async () => {
    mesh = await createMesh(NODES, { swarmKey })
    await Promise.all(mesh.daemons.map((d) => connectedTo(d, 1)))
    forger = await createNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: mesh.daemons.map((d) => d.node.getMultiaddrs()[0].toString()),
      swarmKey,
      mdns: false,
    })
    await eventually('the forger connected to the swarm', async () =>
      forger.getPeers().length >= NODES ? true : undefined,
    )
  })
  after(async () => {
    await forger?.stop()
    await mesh?.stop()
  })

  it('every node finds every other node’s capacity record through the DHT', async () => {
    const published = await Promise.all(
      mesh.daemons.map((d) => eventually(`node ${idOf(d)} published`, async () => d.capacity.current)),
    )
    for (const finder of mesh.daemons) {
      for (const [i, owner] of mesh.daemons.entries()) {
        if (owner === finder) continue
        const found = await eventually(`${idOf(finder)} finds ${idOf(owner)}`, () =>
          finder.capacity.find(idOf(owner), { signal: AbortSignal.timeout(5_000) }),
        )
        assert.equal(found.peerId, idOf(owner))
        assert.ok(found.seq >= published[i].seq, 'the record found is the one published, or newer')
        assert.equal(found.cores, published[i].cores)
        assert.equal(found.memoryMB, published[i].memoryMB)
      }
    }
    // findAll gathers the same set: providers ∪ connected peers, each looked up by key
    const all = await mesh.daemons[0].capacity.findAll({ signal: AbortSignal.timeout(20_000) })
    assert.deepEqual(all.map((c) => c.peerId).sort(), mesh.daemons.map(idOf).sort())
  })

  it('provider lookup finds every other executor', async () => {
    for (const finder of mesh.daemons) {
      const want = mesh.daemons.filter((d) => d !== finder).map(idOf)
      const found = await eventually(`${idOf(finder)} finds every provider`, async () => {
        const providers = await finder.capacity.findProviders({ signal: AbortSignal.timeout(5_000) })
        return want.every((id) => providers.includes(id)) ? providers : undefined
      })
      assert.ok(!found.includes(idOf(finder)), 'a node does not list itself')
    }
  })

  describe('forged records', () => {
    // records are signed for the swarm's network (a public-mesh record is refused here anyway)
    const net = () => mesh.daemons[0].network
    let victimKey: PrivateKey
    let victimId: string
    let key: Uint8Array
    let genuine: Uint8Array

    before(async () => {
      // the victim owns a key but runs no node: any member may carry its signed record
      victimKey = await generateKeyPair('Ed25519')
      victimId = peerIdFromPrivateKey(victimKey).toString()
      key = capacityKey(victimId)
      genuine = await signCapacity(victimKey, offer(100), net())
      const put = await putFrom(mesh.daemons[0].node, key, genuine)
      assert.ok(put.stored >= NODES - 1, `the genuine record reaches the swarm (stored on ${put.stored})`)
    })

    const forgeries: Array<[string, () => Promise<Uint8Array>]> = [
      [
        'signed by another key',
        async () => signCapacity(await generateKeyPair('Ed25519'), offer(200), net()),
      ],
      ['expired', async () => signCapacity(victimKey, offer(201, { expiresAt: Date.now() - 1_000 }), net())],
      [
        'oversize',
        async () =>
          signCapacity(
            victimKey,
            offer(202, { features: Array.from({ length: 30 }, (_, i) => `f${i}`.padEnd(60, 'x')) }),
            net(),
          ),
      ],
      ['malformed', async () => new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3])],
      ['with a lower sequence number', async () => signCapacity(victimKey, offer(50), net())],
    ]

    for (const [name, forge] of forgeries) {
      it(`a record ${name} is refused by every remote validator and never returned by a get`, async () => {
        const forged = await forge()
        if (name !== 'with a lower sequence number') {
          // the validator alone refuses it, with a named error
          await assert.rejects(capacityValidator(key, forged, net()), InvalidCapacityRecordError)
        }
        const put = await putFrom(forger, key, forged)
        assert.equal(put.stored, 0, 'no remote peer stored the forgery')
        assert.ok(put.refused > 0, 'remote peers refused it')

        for (const d of mesh.daemons) {
          const values = await valuesFrom(d.node, key)
          assert.ok(!values.some((v) => sameBytes(v, forged)), `node ${idOf(d)} never returns the forgery`)
          const found = await d.capacity.find(victimId, { signal: AbortSignal.timeout(10_000) })
          assert.equal(found?.seq, 100, 'the genuine record is still the one found')
        }
      })
    }
  })
})

describe('capacity validator and selector', () => {
  it('the memory validator refuses a lower sequence than one it accepted, and accepts newer', async () => {
    const owner = await generateKeyPair('Ed25519')
    const key = capacityKey(peerIdFromPrivateKey(owner).toString())
    const validate = capacityValidatorWithMemory()
    await validate(key, await signCapacity(owner, offer(10)))
    await assert.rejects(validate(key, await signCapacity(owner, offer(9))), InvalidCapacityRecordError)
    await validate(key, await signCapacity(owner, offer(10)))
    await validate(key, await signCapacity(owner, offer(11)))
    // a fresh node has no memory: only the signature, size, shape and expiry decide
    await capacityValidatorWithMemory()(key, await signCapacity(owner, offer(9)))
  })

  it('the memory is bounded: the least recently seen peer is forgotten first', async () => {
    const validate = capacityValidatorWithMemory(2)
    const owners = await Promise.all([0, 1, 2].map(() => generateKeyPair('Ed25519')))
    const keyOf = (k: PrivateKey): Uint8Array => capacityKey(peerIdFromPrivateKey(k).toString())
    for (const o of owners) await validate(keyOf(o), await signCapacity(o, offer(10)))
    // owners[0] was forgotten when owners[2] arrived; owners[2] is still remembered
    await validate(keyOf(owners[0]), await signCapacity(owners[0], offer(5)))
    await assert.rejects(
      validate(keyOf(owners[2]), await signCapacity(owners[2], offer(5))),
      InvalidCapacityRecordError,
    )
  })

  it('the selector picks the highest valid sequence and never an invalid record', async () => {
    const owner = await generateKeyPair('Ed25519')
    const key = capacityKey(peerIdFromPrivateKey(owner).toString())
    const records = [
      await signCapacity(owner, offer(3)),
      await signCapacity(await generateKeyPair('Ed25519'), offer(99)),
      await signCapacity(owner, offer(7)),
      await signCapacity(owner, offer(50, { expiresAt: Date.now() - 1 })),
      new Uint8Array([1, 2, 3]),
      await signCapacity(owner, offer(5)),
    ]
    const best = await capacitySelector(key, records)
    assert.equal(best, 2)
    assert.equal((await verifyCapacity(key, records[best])).seq, 7)
  })
})
