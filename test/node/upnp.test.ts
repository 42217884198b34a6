/**
 * The UPnP port mapper against a fake router (the real one, miniupnpd, is in test/nat): what it
 * asks the router for, what it adds to the node's addresses, and what it says when it cannot.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Gateway, MapPortOptions, PortMapping, UPnPNAT } from '@achingbrain/nat-port-mapper'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { UpnpPortMapper } from '../../src/node/upnp.js'

const EXTERNAL = '203.0.113.7'

class FakeRouter {
  readonly mapped: Array<{ port: number; host: string; protocol?: string }> = []
  stopped = false
  gateway(): Gateway {
    return {
      id: 'fake',
      host: '192.168.1.1',
      port: 5000,
      family: 'IPv4',
      externalIp: async () => EXTERNAL,
      map: async (port: number, host: string, options?: MapPortOptions): Promise<PortMapping> => {
        this.mapped.push({ port, host, protocol: options?.protocol })
        return {
          externalHost: EXTERNAL,
          externalPort: port,
          internalHost: host,
          internalPort: port,
          protocol: 'TCP',
        }
      },
      stop: async () => {
        this.stopped = true
      },
    } as unknown as Gateway
  }
  client(answers: boolean): UPnPNAT {
    const gateway = this.gateway()
    return {
      async *findGateways(options?: { signal?: AbortSignal }) {
        if (answers) {
          yield gateway
          return
        }
        // no router on this LAN: the search ends when its time is up
        await new Promise((resolve) => options?.signal?.addEventListener('abort', resolve, { once: true }))
      },
    } as unknown as UPnPNAT
  }
}

function addressManager(listen: string[]) {
  const mappings: string[] = []
  return {
    mappings,
    listen,
    getAddressesWithMetadata: () =>
      listen.map((a) => ({
        multiaddr: multiaddr(a),
        type: 'transport' as const,
        verified: true,
        expires: 0,
      })),
    addPublicAddressMapping: (ip: string, port: number, extIp: string, extPort?: number) => {
      mappings.push(`${ip}:${port} -> ${extIp}:${extPort}`)
    },
    removePublicAddressMapping: (ip: string, port: number, extIp: string, extPort?: number) => {
      mappings.splice(mappings.indexOf(`${ip}:${port} -> ${extIp}:${extPort}`), 1)
    },
  }
}

async function settled(mapper: UpnpPortMapper, done: (s: ReturnType<UpnpPortMapper['status']>) => boolean) {
  for (let i = 0; i < 200; i++) {
    if (done(mapper.status())) return mapper.status()
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`UPnP mapper did not settle: ${JSON.stringify(mapper.status())}`)
}

describe('UPnP port mapper', () => {
  it('asks the router to forward the LAN TCP port, adds the external address and asks for a dial-back', async () => {
    const router = new FakeRouter()
    const am = addressManager(['/ip4/127.0.0.1/tcp/4101', '/ip4/192.168.1.20/tcp/4101'])
    let dialBacks = 0
    const mapper = new UpnpPortMapper(
      { addressManager: am, logger: defaultLogger(), events: new EventTarget() },
      { client: router.client(true), onMapped: () => dialBacks++ },
    )
    await mapper.start()
    mapper.afterStart()
    const status = await settled(mapper, (s) => s.mapped.length > 0)
    assert.deepEqual(
      router.mapped,
      [{ port: 4101, host: '192.168.1.20', protocol: 'TCP' }],
      'loopback is not forwarded',
    )
    assert.deepEqual(status, {
      gateway: '192.168.1.1:5000',
      externalIp: EXTERNAL,
      mapped: [`/ip4/${EXTERNAL}/tcp/4101`],
      error: undefined,
    })
    assert.deepEqual(am.mappings, [`192.168.1.20:4101 -> ${EXTERNAL}:4101`])
    assert.equal(dialBacks, 1)
    await mapper.stop()
    assert.equal(router.stopped, true, 'the mapping is given back to the router on stop')
    assert.deepEqual(am.mappings, [])
  })

  it('maps the port once the transport listens, when that comes after start', async () => {
    const router = new FakeRouter()
    const am = addressManager([])
    const events = new EventTarget()
    const mapper = new UpnpPortMapper(
      { addressManager: am, logger: defaultLogger(), events },
      { client: router.client(true) },
    )
    await mapper.start()
    mapper.afterStart()
    assert.deepEqual(mapper.status().mapped, [], 'nothing listens yet')
    assert.equal(mapper.status().error, undefined, 'not listening yet is not "loopback only"')
    am.listen.push('/ip4/127.0.0.1/tcp/4101', '/ip4/192.168.1.20/tcp/4101')
    events.dispatchEvent(new Event('transport:listening'))
    const status = await settled(mapper, (s) => s.mapped.length > 0)
    assert.deepEqual(status.mapped, [`/ip4/${EXTERNAL}/tcp/4101`])
    await mapper.stop()
  })

  it('says why when no router answers, and asks nothing when the node listens on loopback only', async () => {
    const router = new FakeRouter()
    const silent = new UpnpPortMapper(
      {
        addressManager: addressManager(['/ip4/192.168.1.20/tcp/4101']),
        logger: defaultLogger(),
        events: new EventTarget(),
      },
      { client: router.client(false) },
    )
    await silent.start()
    silent.afterStart()
    const status = await settled(silent, (s) => s.error != null)
    assert.match(status.error ?? '', /no UPnP router answered on the LAN/)
    assert.deepEqual(status.mapped, [])
    await silent.stop()

    const loopback = new UpnpPortMapper(
      {
        addressManager: addressManager(['/ip4/127.0.0.1/tcp/4101']),
        logger: defaultLogger(),
        events: new EventTarget(),
      },
      { client: router.client(true) },
    )
    await loopback.start()
    loopback.afterStart()
    assert.match(loopback.status().error ?? '', /loopback only/)
    assert.deepEqual(router.mapped, [], 'no router is asked to forward a loopback port')
    await loopback.stop()
  })
})
