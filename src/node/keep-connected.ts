import type { ComponentLogger, Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'

const FIRST_RETRY_MS = 250
const MAX_RETRY_MS = 30_000
const DIAL_TIMEOUT_MS = 5_000
/** How often bootstrap peers this node is not connected to are dialled again. */
const REJOIN_INTERVAL_MS = 10_000
/**
 * A bootstrap peer that keeps failing is tried at most this rarely. Kept short: one dial of a
 * bootstrap peer every 30 s is cheap, and it bounds how long the two halves of a healed partition
 * (or a home whose link came back) stay apart — with minutes of backoff they stayed apart for
 * minutes, and receipts signed meanwhile never crossed.
 */
const MAX_REJOIN_BACKOFF_MS = 30_000

/**
 * Keeps a node joined to the mesh: whenever it has no connections at all, it dials its
 * bootstrap peers again, backing off from 250 ms to 30 s. `@libp2p/bootstrap` dials once at
 * start; a bootstrap peer that was busy or not yet up would otherwise leave the node isolated
 * for good. Every 10 s it also redials bootstrap peers it is not connected to (a failing one
 * backs off to 5 min): after a network partition heals, the two halves each still have
 * connections among themselves and would otherwise never find each other again.
 */
export class KeepConnected {
  private timer?: NodeJS.Timeout
  private rejoinTimer?: NodeJS.Timeout
  private readonly nextTry = new Map<string, { at: number; backoffMs: number }>()
  private retryMs = FIRST_RETRY_MS
  private stopped = false
  private readonly log

  constructor(
    private readonly node: Pick<
      Libp2p,
      'dial' | 'getConnections' | 'addEventListener' | 'removeEventListener'
    >,
    private readonly bootstrap: string[],
    logger: ComponentLogger,
  ) {
    this.log = logger.forComponent('plusone:bootstrap')
  }

  start(): void {
    if (this.bootstrap.length === 0) return
    this.node.addEventListener('peer:disconnect', this.onDisconnect)
    this.schedule(FIRST_RETRY_MS)
    this.scheduleRejoin()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    clearTimeout(this.rejoinTimer)
    this.node.removeEventListener('peer:disconnect', this.onDisconnect)
  }

  private readonly onDisconnect = (): void => {
    if (this.node.getConnections().length === 0) {
      this.retryMs = FIRST_RETRY_MS
      this.schedule(this.retryMs)
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.check(), ms)
    this.timer.unref?.()
  }

  private async check(): Promise<void> {
    if (this.stopped || this.node.getConnections().length > 0) return
    for (const addr of this.bootstrap) {
      if (this.stopped) return
      try {
        await this.node.dial(multiaddr(addr), { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
        this.log('rejoined the mesh through %s', addr)
        this.retryMs = FIRST_RETRY_MS
        return
      } catch (err) {
        this.log('bootstrap peer %s unreachable: %s', addr, (err as Error).message)
      }
    }
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS)
    this.schedule(this.retryMs)
  }

  private scheduleRejoin(): void {
    if (this.stopped) return
    this.rejoinTimer = setTimeout(() => {
      void this.rejoin().finally(() => this.scheduleRejoin())
    }, REJOIN_INTERVAL_MS)
    this.rejoinTimer.unref?.()
  }

  /** Dials, in parallel, every bootstrap peer that is due and not connected. */
  private async rejoin(): Promise<void> {
    const connected = new Set(this.node.getConnections().map((c) => c.remotePeer.toString()))
    const now = Date.now()
    await Promise.all(
      this.bootstrap.map(async (addr) => {
        const ma = multiaddr(addr)
        const peer = ma.getComponents().findLast((c) => c.name === 'p2p')?.value
        if (peer == null || connected.has(peer) || this.stopped) return
        const due = this.nextTry.get(addr)
        if (due != null && due.at > now) return
        try {
          await this.node.dial(ma, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
          this.nextTry.delete(addr)
          this.log('reconnected to bootstrap peer %s', addr)
        } catch {
          const backoffMs = Math.min((due?.backoffMs ?? REJOIN_INTERVAL_MS / 2) * 2, MAX_REJOIN_BACKOFF_MS)
          this.nextTry.set(addr, { at: Date.now() + backoffMs, backoffMs })
        }
      }),
    )
  }
}
