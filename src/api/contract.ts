/**
 * Compile-time proof that what the daemon serves matches the client's wire types
 * (src/client/types.ts, documented in docs/api.yaml): if a market view gains, loses or changes
 * a field the client relies on, the build fails here rather than a user's program at run time.
 */
import type * as wire from '../client/types.js'
import type { JobView, MarketEvent, MarketStats, SubmittedJob, TaskView } from '../market/index.js'
import type { ConnectionJson, ReachabilityReport } from '../node/index.js'

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
type Holds<T extends true> = T

export type WireContract = [
  Holds<Same<JobView, wire.JobView>>,
  Holds<Same<TaskView, wire.TaskView>>,
  Holds<Same<SubmittedJob, wire.SubmittedJob>>,
  Holds<Same<MarketEvent, wire.MarketEvent>>,
  Holds<Same<MarketStats, wire.MarketStats>>,
  Holds<Same<ReachabilityReport, wire.ReachabilityReport>>,
  Holds<Same<ConnectionJson, wire.ConnectionInfo>>,
]
