/** Counts behind a failure sentence. */
export interface FailureTally {
  executions: number
  results: number
  timedOut: number
  declined: number
  discredited: number
  running: number
  /** The execution bound of the task. */
  limit: number
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`
}

/**
 * The sentence a user reads when a task fails, e.g. "7 executions gave 5 different results, 2 missed
 * the deadline; no result can reach the 2 matching claims that a majority of 3 needs within the
 * limit of 7 executions".
 */
export function describeFailure(t: FailureTally, replicas: number, quorum: number): string {
  const parts = [
    `${plural(t.executions, 'execution', 'executions')} gave ${plural(t.results, 'result', 'different results')}`,
  ]
  if (t.timedOut > 0) parts.push(`${t.timedOut} missed the deadline`)
  if (t.declined > 0) parts.push(`${t.declined} declined`)
  if (t.discredited > 0) parts.push(`${t.discredited} served an output that did not match its claim`)
  if (t.running > 0) parts.push(`${t.running} still running`)
  return (
    parts.join(', ') +
    `; no result can reach the ${quorum} matching ${quorum === 1 ? 'claim' : 'claims'} that a majority of ${replicas} needs` +
    ` within the limit of ${plural(t.limit, 'execution', 'executions')}`
  )
}
