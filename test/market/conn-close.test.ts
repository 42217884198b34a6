/**
 * Nothing in flight is lost when a connection closes (a redundant one from a simultaneous dial, a
 * relayed one after an upgrade, a relay going away): on real libp2p nodes, the connection between
 * submitter and executor is closed while a request is held or being answered, and the task still
 * finishes — long before the award's deadline, which is what it waited for before.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  BID_PROTOCOL,
  libp2pTransport,
  type MarketTransport,
  RESULT_PROTOCOL,
  type RequestHandler,
} from '../../src/market/index.js'
import type { PlusoneNode } from '../../src/node/index.js'
import { dec, enc, example, type Mesh, startMesh } from './helpers.js'

/** Far beyond the test's bound: a task that waits for it fails the test. */
const DEADLINE_MS = 120_000
const JOB_TIMEOUT_MS = 20_000

/**
 * The real transport, with a hook that runs when a request of `protocol` reaches its handler:
 * the test closes the connection there, so the reply has no path back.
 */
function hooked(node: PlusoneNode, hooks: Map<string, (peer: string) => void>): MarketTransport {
  const real = libp2pTransport({ registrar: node, dialer: node, onError: () => {} })
  return {
    ...real,
    handle: (protocol, handler: RequestHandler, options) =>
      real.handle(
        protocol,
        (body, from, signal) => {
          hooks.get(protocol)?.(from.peer)
          return handler(body, from, signal)
        },
        options,
      ),
  }
}

/** Closes every connection between `node` and `peer` (at most `times` times in all). */
function closer(node: PlusoneNode, times: number): { close: (peer: string) => void; closed: () => number } {
  let closed = 0
  return {
    close: (peer) => {
      if (closed >= times) return
      closed++
      for (const c of node.getConnections(peerIdFromString(peer)))
        c.close().catch((err: Error) => c.abort(err))
    },
    closed: () => closed,
  }
}

describe('market: a connection closed with a request in flight', () => {
  let mesh: Mesh
  const hooks = new Map<string, (peer: string) => void>()
  before(async () => {
    mesh = await startMesh(
      [
        // a long bid window: the executor's bid is held while its connection goes away
        { executor: { enabled: false }, bidWindowMinMs: 1_500, bidWindowMaxMs: 2_000 },
        { executor: { maxTasks: 1, memoryMB: 64 } },
      ],
      { transport: (node, i) => (i === 0 ? hooked(node, hooks) : undefined) },
    )
  })
  after(async () => mesh?.stop())

  async function runOne(name: string): Promise<void> {
    const submitter = mesh.nodes[0]
    const job = await submitter.market.submitJob({
      module: example('primes'),
      inputs: [{ name, bytes: enc('0 200') }],
      replicas: 1,
      memoryMB: 16,
      fuel: 10_000_000,
      deadlineMs: DEADLINE_MS,
    })
    const final = await submitter.market.waitForJob(job.jobId, {
      signal: AbortSignal.timeout(JOB_TIMEOUT_MS),
    })
    assert.equal(final.status, 'done', JSON.stringify(submitter.market.taskStatus(job.tasks[0].taskId)))
    assert.match(dec(await submitter.market.result(job.tasks[0].taskId)), /\d/)
  }

  /** Runs a task while the connection is closed (once) when a request of `protocol` arrives. */
  async function closingUnder(protocol: string, name: string): Promise<void> {
    const cut = closer(mesh.nodes[0].node, 1)
    hooks.set(protocol, cut.close)
    try {
      await runOne(name)
    } finally {
      hooks.delete(protocol)
    }
    assert.equal(cut.closed(), 1, `the connection was closed under the ${name}`)
  }

  it('a bid held in its window: the award still reaches the executor', { timeout: 2 * JOB_TIMEOUT_MS }, () =>
    closingUnder(BID_PROTOCOL, 'held bid'),
  )

  it('a claim being answered: the task is done', { timeout: 2 * JOB_TIMEOUT_MS }, () =>
    closingUnder(RESULT_PROTOCOL, 'claim'),
  )
})
