/**
 * @packageDocumentation
 *
 * Prometheus metrics of one daemon, served by the control API as `GET /metrics` (bearer token,
 * as Prometheus' `authorization` scrape setting sends it) in the text exposition format.
 *
 * - plusone's own, prefix `plusone_`: tasks and jobs by outcome, executions by status, fuel
 *   burned, executions running, bids received by decision and sent, awards won, claims sent,
 *   reissues, verdicts and verification disagreements, credits earned/spent and balance, queue
 *   depth (this node's unfinished tasks), receipts, blob bytes stored/served/fetched.
 * - libp2p's, from `@libp2p/prometheus-metrics` registered into the same registry (connections,
 *   streams, protocol traffic, DHT) plus Node.js process metrics. `@libp2p/prometheus-metrics`
 *   keeps its metrics in module-level state, so only one daemon per process can export them: the
 *   CLI's daemon does; in-process test meshes leave them off. Gossipsub's own metrics need a
 *   register adapter of their own (its `metricsRegister` option) and are not exported yet.
 *
 * ```ts
 * const metrics = new DaemonMetrics()
 * const node = await createNode({ ...init, metrics: libp2pMetrics(metrics.registry) })
 * const market = new Market({ ...components, runtime: metrics.instrument(runtime) },
 *   { onSettled: (s) => metrics.settled(s, replicas) })
 * metrics.start({ market, account, settlementStats, blobStats, blobBytes: () => storedBlobBytes(blobStore) })
 * const { contentType, body } = await metrics.text()
 * ```
 */
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { Registry } from 'prom-client'

export {
  DaemonMetrics,
  type DaemonMetricsSources,
  storedBlobBytes,
} from './daemon-metrics.js'

/**
 * libp2p's metrics, registered into `registry` without clearing it (the package's default
 * clears the global registry, which would drop plusone's metrics).
 */
export function libp2pMetrics(registry: Registry): ReturnType<typeof prometheusMetrics> {
  return prometheusMetrics({ registry, preserveExistingMetrics: true })
}
