import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { newSwarmKey } from '../../src/node/index.js'
import { connectedTo, createMesh, eventually, type Mesh } from '../mesh.js'

describe('a private swarm', () => {
  let swarm: Mesh
  const refusals: string[] = []

  before(async () => {
    swarm = await createMesh(3, { swarmKey: newSwarmKey(), log: (_i, line) => refusals.push(line) })
    await Promise.all(swarm.daemons.map((d) => connectedTo(d, 1)))
    await swarm.daemons[0].node.services.ping.ping(swarm.daemons[2].node.peerId)
    assert.deepEqual(
      swarm.daemons.map((d) => d.refusedHandshakes()),
      [0, 0, 0],
      'members holding the key never count each other as refused',
    )
  })
  after(async () => {
    await swarm?.stop()
  })

  for (const [name, key] of [
    ['a different swarm key', newSwarmKey()],
    ['no swarm key', undefined],
  ] as const) {
    it(`refuses every connection from a node with ${name}, and keeps working`, async () => {
      const outsider = await createMesh(0)
      const before = swarm.daemons.map((d) => d.refusedHandshakes()).reduce((a, b) => a + b, 0)
      const stranger = await outsider.add({ swarmKey: key, bootstrapTo: swarm.daemons })
      try {
        // the outsider dials every member directly; each attempt must fail
        await Promise.all(
          swarm.daemons.map((member) =>
            assert.rejects(
              stranger.node.dial(member.node.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) }),
              'a dial without the swarm key must not succeed',
            ),
          ),
        )
        assert.equal(stranger.node.getConnections().length, 0, 'the outsider holds no connection')
        for (const member of swarm.daemons) {
          const peers = member.node.getPeers().map((p) => p.toString())
          assert.ok(!peers.includes(stranger.node.peerId.toString()), 'no member lists the outsider')
        }
        const now = await eventually('refusals logged', async () => {
          const total = swarm.daemons.map((d) => d.refusedHandshakes()).reduce((a, b) => a + b, 0)
          return total > before ? total : undefined
        })
        assert.ok(now > before, 'members count the refused handshakes')
        assert.ok(refusals.some((l) => l.includes('does not hold this swarm key')))
        // the swarm still works: members still reach each other
        const rtt = await swarm.daemons[1].node.services.ping.ping(swarm.daemons[0].node.peerId)
        assert.ok(rtt >= 0)
      } finally {
        await outsider.stop()
      }
    })
  }
})
