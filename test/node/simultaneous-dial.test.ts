import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection } from '@libp2p/interface'
import { createNode, type PlusoneNode } from '../../src/node/index.js'

const ROUNDS = 5
const TOPIC = 'plusone/test/dedupe'

const open = (from: PlusoneNode, to: PlusoneNode): Connection[] =>
  from.getConnections(to.peerId).filter((c) => c.status === 'open')

/** Resolves once `check()` holds, re-checking on every connection event of `nodes`; bounded by `ms`. */
function settled(nodes: PlusoneNode[], check: () => boolean, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer)
      for (const n of nodes) {
        n.removeEventListener('connection:open', onEvent)
        n.removeEventListener('connection:close', onEvent)
      }
      if (err == null) resolve()
      else reject(err)
    }
    const onEvent = (): void => {
      // the event fires before the connection's status changes: look once it has
      setImmediate(() => {
        if (check()) done()
      })
    }
    const timer = setTimeout(() => done(new Error(`not settled within ${ms} ms`)), ms)
    for (const n of nodes) {
      n.addEventListener('connection:open', onEvent)
      n.addEventListener('connection:close', onEvent)
    }
    onEvent()
  })
}

/**
 * Publishes `text` from `from` until `to` hears it (a subscription may still be on its way after
 * the connection changed): at most 20 tries, 10 s in all.
 */
async function gossips(from: PlusoneNode, to: PlusoneNode, text: string): Promise<void> {
  const heard = new Promise<void>((resolve) => {
    const onMessage = (evt: CustomEvent<{ topic: string; data: Uint8Array }>): void => {
      if (evt.detail.topic !== TOPIC || new TextDecoder().decode(evt.detail.data) !== text) return
      to.services.pubsub.removeEventListener('message', onMessage)
      resolve()
    }
    to.services.pubsub.addEventListener('message', onMessage)
  })
  let done = false
  void heard.then(() => {
    done = true
  })
  for (let i = 0; i < 20 && !done; i++) {
    await from.services.pubsub.publish(TOPIC, new TextEncoder().encode(text)).catch(() => {})
    await Promise.race([heard, new Promise((r) => setTimeout(r, 500))])
  }
  assert.ok(done, `gossip "${text}" was heard`)
}

describe('node: simultaneous dials', () => {
  let a: PlusoneNode
  let b: PlusoneNode
  before(async () => {
    const start = async (): Promise<PlusoneNode> =>
      createNode({
        privateKey: await generateKeyPair('Ed25519'),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: false,
        topics: [TOPIC],
      })
    ;[a, b] = await Promise.all([start(), start()])
    for (const n of [a, b]) n.services.pubsub.subscribe(TOPIC)
  })
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()])
  })

  it('two peers dialling each other at once end with one connection, the same one on both sides', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all([a.dial(b.getMultiaddrs()[0]), b.dial(a.getMultiaddrs()[0])])
      // each dial has resolved, so each side holds its own outbound connection: one connection
      // in all means one side dialled it and the other accepted it
      await settled(
        [a, b],
        () =>
          open(a, b).length === 1 &&
          open(b, a).length === 1 &&
          open(a, b)[0].direction !== open(b, a)[0].direction,
        10_000,
      ).catch((err: Error) => {
        const dirs = (x: PlusoneNode, y: PlusoneNode): string =>
          open(x, y)
            .map((c) => c.direction)
            .join(',')
        throw new Error(`${err.message}: a holds [${dirs(a, b)}], b holds [${dirs(b, a)}]`)
      })
      assert.equal(open(a, b).length + open(b, a).length, 2)
      assert.ok(
        a.services.dedupe.closed + b.services.dedupe.closed > round,
        'a redundant connection was closed',
      )
      // and it carries traffic: a ping, and gossip (gossipsub's streams on the closed connection
      // ended with it; it must have opened new ones on the one that stays)
      await a.services.ping.ping(b.peerId, { signal: AbortSignal.timeout(5_000) })
      await gossips(a, b, `round ${round}`)
      await a.hangUp(b.peerId)
      await settled([a, b], () => open(a, b).length === 0 && open(b, a).length === 0, 10_000)
    }
  })
})
