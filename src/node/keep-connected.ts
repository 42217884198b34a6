import type { ComponentLogger, Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'

const FIRST_RETRY_MS = 250
const MAX_RETRY_MS = 30_000
const DIAL_TIMEOUT_MS = 5_000

/**
 * Keeps a node joined to the mesh: whenever it has no connections at all, it dials its
 * bootstrap peers again, backing off from 250 ms to 30 s. `@libp2p/bootstrap` dials once at
 * start; a bootstrap peer that was busy or not yet up would otherwise leave the node isolated
 * for good.
 */
export class KeepConnected {
  private timer?: NodeJS.Timeout
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
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
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
}
