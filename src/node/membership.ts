/**
 * Swarm membership on connections the swarm key (pnet) never touched.
 *
 * libp2p's connection protector runs only inside its own upgrader path: TCP and circuit relay
 * connections are protected and then secured with noise, but transports that bring their own
 * encryption (WebRTC, WebTransport) skip the protector altogether. On such a connection nothing
 * proves that the other side holds the swarm key, so before any other protocol runs on it both
 * sides prove it on `/plusone/membership/1.0.0`:
 *
 * ```
 * dialer  → listener   nonce_d (32 bytes)
 * listener → dialer    nonce_l (32 bytes) ‖ HMAC(k, "listener" ‖ transcript)
 * dialer  → listener   HMAC(k, "dialer" ‖ transcript)
 * transcript = "plusone/membership/1\0" ‖ dialer id ‖ listener id ‖ nonce_d ‖ nonce_l
 * k = HMAC-SHA256(swarm key, "plusone/membership-key/1")
 * ```
 *
 * Both peer ids bind a proof to this pair of peers, both fresh nonces to this connection, the
 * role label to one direction: a proof cannot be replayed, reflected or relayed to another
 * member. Until a connection's proof succeeds every other protocol's stream on it — inbound and
 * outbound — waits (stream middleware on every registered protocol); a failed or late proof
 * closes the connection and every waiting stream is refused with `MembershipError`, whose
 * message names the real cause.
 *
 * A connection counts as protected when the upgrader secured it with noise (the protector runs
 * just before noise on the same path); everything else — `native` encryption, or any transport
 * added later — must prove membership. Without a swarm key there is nothing to prove.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type {
  ComponentLogger,
  Connection,
  Libp2pEvents,
  Logger,
  PeerId,
  Startable,
  Stream,
  StreamMiddleware,
  TypedEventTarget,
} from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import { lpStream } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'

export const MEMBERSHIP_PROTOCOL = '/plusone/membership/1.0.0'
/** A proof not finished within this closes the connection. */
export const MEMBERSHIP_TIMEOUT_MS = 5_000
const NONCE_BYTES = 32
const MAC_BYTES = 32
const MAX_MESSAGE_BYTES = NONCE_BYTES + MAC_BYTES
const KEY_TAG = 'plusone/membership-key/1'
const TRANSCRIPT_TAG = 'plusone/membership/1\0'
/** The connection encryption whose path includes the pnet protector. */
const PROTECTED_ENCRYPTION = '/noise'

export class MembershipError extends Error {
  static name = 'MembershipError'
  constructor(message: string) {
    super(message)
    this.name = 'MembershipError'
  }
}

export interface MembershipGateInit {
  /** The swarm key (libp2p v1 PSK text, as pnet takes it). */
  swarmKey: Uint8Array
  /** Told once per connection whose peer failed to prove membership, with the real cause. */
  onRefused?: (connection: Connection, err: MembershipError) => void
  /** @default MEMBERSHIP_TIMEOUT_MS */
  timeoutMs?: number
  /** Which connections must prove membership (tests gate TCP ones). @default needsMembershipProof */
  needsProof?: (connection: Connection) => boolean
}

export interface MembershipGateComponents {
  peerId: PeerId
  registrar: Registrar
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

/** Whether a connection skipped the swarm key's protector and must prove membership itself. */
export function needsMembershipProof(connection: Pick<Connection, 'encryption'>): boolean {
  return connection.encryption !== PROTECTED_ENCRYPTION
}

type Role = 'dialer' | 'listener'

export class MembershipGate implements Startable {
  readonly [Symbol.toStringTag] = '@plusone/membership'
  readonly #key: Buffer
  readonly #timeoutMs: number
  readonly #needsProof: (connection: Connection) => boolean
  readonly #log: Logger
  /** Each gated connection's verdict: resolves on a proof, rejects with the cause. */
  readonly #verdicts = new WeakMap<Connection, Promise<void>>()
  readonly #settle = new WeakMap<Connection, (err?: MembershipError) => void>()
  readonly #guards = new WeakSet<StreamMiddleware>()

  constructor(
    private readonly components: MembershipGateComponents,
    private readonly init: MembershipGateInit,
  ) {
    this.#key = createHmac('sha256', init.swarmKey).update(KEY_TAG).digest()
    this.#timeoutMs = init.timeoutMs ?? MEMBERSHIP_TIMEOUT_MS
    this.#needsProof = init.needsProof ?? needsMembershipProof
    this.#log = components.logger.forComponent('plusone:membership')
  }

  async start(): Promise<void> {
    await this.components.registrar.handle(
      MEMBERSHIP_PROTOCOL,
      (stream, connection) => {
        this.#answer(stream, connection).catch(() => {})
      },
      { maxInboundStreams: 1, maxOutboundStreams: 1 },
    )
    this.components.events.addEventListener('connection:open', this.#onOpen)
  }

  afterStart(): void {
    this.#guardAll()
  }

  async stop(): Promise<void> {
    this.components.events.removeEventListener('connection:open', this.#onOpen)
    await this.components.registrar.unhandle(MEMBERSHIP_PROTOCOL)
  }

  /** Resolves once `connection` is proven (at once for a protected one); rejects otherwise. */
  verdict(connection: Connection): Promise<void> {
    if (!this.#needsProof(connection)) return Promise.resolve()
    return this.#verdictOf(connection)
  }

  /** Puts the gate in front of every registered protocol (but its own). */
  #guardAll(): void {
    const { registrar } = this.components
    for (const protocol of registrar.getProtocols()) {
      if (protocol === MEMBERSHIP_PROTOCOL || this.#guards.has(registrar.getMiddleware(protocol)[0])) continue
      const guard: StreamMiddleware = (stream, connection, next) => {
        // libp2p 3.3 appends the protocol's handler to the array `getMiddleware` returns — the
        // stored chain itself — for every inbound stream, just before it calls this middleware:
        // take it back off (so the chain stays [guard]) and run it here, after the verdict
        const handlers = registrar.getMiddleware(protocol).splice(1)
        return this.#admit(stream, connection, handlers, next)
      }
      this.#guards.add(guard)
      registrar.use(protocol, [guard])
    }
  }

  readonly #onOpen = (evt: CustomEvent<Connection>): void => {
    const connection = evt.detail
    if (!this.#needsProof(connection)) return
    // synchronously, before any stream of this connection reaches its handler (handlers look
    // their middleware up only after an asynchronous protocol negotiation)
    this.#guardAll()
    const verdict = this.#verdictOf(connection)
    verdict.catch((err: MembershipError) => {
      this.#log(
        '%p did not prove swarm membership over %a: %s',
        connection.remotePeer,
        connection.remoteAddr,
        err.message,
      )
      this.init.onRefused?.(connection, err)
      connection.abort(err)
    })
    if (connection.direction === 'outbound') {
      this.#prove(connection).catch(() => {})
    }
  }

  #verdictOf(connection: Connection): Promise<void> {
    let verdict = this.#verdicts.get(connection)
    if (verdict != null) return verdict
    verdict = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          settle(
            new MembershipError(
              `no membership proof within ${this.#timeoutMs} ms (the peer is not a plusone member of this swarm, or too old to prove it)`,
            ),
          ),
        this.#timeoutMs,
      )
      const settle = (err?: MembershipError): void => {
        clearTimeout(timer)
        this.#settle.delete(connection)
        if (err == null) resolve()
        else reject(err)
      }
      this.#settle.set(connection, settle)
      connection.addEventListener(
        'close',
        () => settle(new MembershipError('the connection closed before membership was proven')),
        {
          once: true,
        },
      )
    })
    verdict.catch(() => {})
    this.#verdicts.set(connection, verdict)
    return verdict
  }

  async #admit(
    stream: Stream,
    connection: Connection,
    handlers: StreamMiddleware[],
    next: (stream: Stream, connection: Connection) => void,
  ): Promise<void> {
    if (this.#needsProof(connection)) await this.#verdictOf(connection)
    for (const handler of handlers) {
      await new Promise<void>((resolve, reject) => {
        try {
          const r = handler(stream, connection, () => resolve())
          if (r instanceof Promise) r.catch(reject)
        } catch (err) {
          reject(err)
        }
      })
    }
    next(stream, connection)
  }

  #mac(
    role: Role,
    connection: Connection,
    dialerNonce: Uint8Array,
    listenerNonce: Uint8Array,
    self: string,
  ): Buffer {
    const remote = connection.remotePeer.toString()
    const [dialer, listener] = connection.direction === 'outbound' ? [self, remote] : [remote, self]
    return createHmac('sha256', this.#key)
      .update(role)
      .update(TRANSCRIPT_TAG)
      .update(dialer)
      .update('\0')
      .update(listener)
      .update(dialerNonce)
      .update(listenerNonce)
      .digest()
  }

  #self(): string {
    return this.components.peerId.toString()
  }

  /** The dialer's side: runs over a stream this node opens. */
  async #prove(connection: Connection): Promise<void> {
    const settle = this.#settle.get(connection)
    const signal = AbortSignal.timeout(this.#timeoutMs)
    let stream: Stream | undefined
    try {
      stream = await connection.newStream(MEMBERSHIP_PROTOCOL, { signal })
      const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
      const nonce = randomBytes(NONCE_BYTES)
      await lp.write(nonce, { signal })
      const reply = bytes(await lp.read({ signal }))
      if (reply.byteLength !== NONCE_BYTES + MAC_BYTES)
        throw new MembershipError('malformed membership reply')
      const theirNonce = reply.subarray(0, NONCE_BYTES)
      const expected = this.#mac('listener', connection, nonce, theirNonce, this.#self())
      if (!timingSafeEqual(expected, reply.subarray(NONCE_BYTES)))
        throw new MembershipError('the peer does not hold this swarm key (wrong membership proof)')
      await lp.write(this.#mac('dialer', connection, nonce, theirNonce, this.#self()), { signal })
      await stream.close({ signal }).catch(() => {})
      settle?.()
    } catch (err) {
      stream?.abort(err as Error)
      settle?.(asMembershipError(err))
    }
  }

  /** The listener's side. */
  async #answer(stream: Stream, connection: Connection): Promise<void> {
    if (this.#needsProof(connection)) this.#verdictOf(connection)
    const settle = this.#settle.get(connection)
    const signal = AbortSignal.timeout(this.#timeoutMs)
    try {
      if (!this.#needsProof(connection) || connection.direction !== 'inbound' || settle == null)
        throw new MembershipError('unexpected membership proof')
      const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
      const theirNonce = bytes(await lp.read({ signal }))
      if (theirNonce.byteLength !== NONCE_BYTES) throw new MembershipError('malformed membership request')
      const nonce = randomBytes(NONCE_BYTES)
      await lp.write(
        new Uint8ArrayList(nonce, this.#mac('listener', connection, theirNonce, nonce, this.#self())),
        { signal },
      )
      const proof = bytes(await lp.read({ signal }))
      const expected = this.#mac('dialer', connection, theirNonce, nonce, this.#self())
      if (proof.byteLength !== MAC_BYTES || !timingSafeEqual(expected, proof))
        throw new MembershipError('the peer does not hold this swarm key (wrong membership proof)')
      await stream.close({ signal }).catch(() => {})
      settle()
    } catch (err) {
      stream.abort(err as Error)
      settle?.(asMembershipError(err))
    }
  }
}

function bytes(list: Uint8ArrayList | Uint8Array): Uint8Array {
  return list instanceof Uint8Array ? list : list.subarray()
}

function asMembershipError(err: unknown): MembershipError {
  if (err instanceof MembershipError) return err
  const e = err as Error
  if (e.name === 'UnsupportedProtocolError')
    return new MembershipError('the peer does not speak the membership protocol (not a plusone member)')
  if (e.name === 'StreamResetError')
    return new MembershipError(
      'the peer broke off the membership proof (it holds another swarm key, or none)',
    )
  if (e.name === 'TimeoutError' || e.name === 'AbortError')
    return new MembershipError(`no membership proof within the time allowed (${e.message})`)
  return new MembershipError(`membership proof failed: ${e.name}: ${e.message}`)
}

export function membershipGate(
  init: MembershipGateInit,
): (components: MembershipGateComponents) => MembershipGate {
  return (components) => new MembershipGate(components, init)
}
