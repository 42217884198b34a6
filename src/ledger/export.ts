/** CSV and JSON renderings of receipts for `plusone ledger --export csv|json`. */
import type { VerifiedReceipt } from './receipt.js'

export type ExportFormat = 'csv' | 'json'

export const CSV_COLUMNS = [
  'receipt_id',
  'timestamp',
  'task_id',
  'job_id',
  'submitter',
  'executor',
  'verdict',
  'fuel_used',
  'price_per_gfuel',
  'amount',
  'sequence',
] as const

/** A receipt in plain JSON types: bigints as decimal strings, the signed bytes as base64. */
export interface ExportedReceipt {
  id: string
  timestamp: string
  taskId: string
  jobId: string
  submitter: string
  executor: string
  verdict: string
  fuelUsed: string
  pricePerGfuel: string
  amount: string
  sequence: number
  signed: string
}

function exported(r: VerifiedReceipt): ExportedReceipt {
  const i = r.info
  return {
    id: r.id,
    timestamp: new Date(i.timestampMs).toISOString(),
    taskId: i.taskId,
    jobId: i.jobId,
    submitter: i.submitter,
    executor: i.executor,
    verdict: i.verdict,
    fuelUsed: i.fuelUsed.toString(),
    pricePerGfuel: i.pricePerGfuel.toString(),
    amount: i.amount.toString(),
    sequence: i.sequence,
    signed: Buffer.from(r.bytes).toString('base64'),
  }
}

/**
 * One CSV field: quoted when it holds a separator, quote or line break; a leading `=`, `+`, `-`,
 * `@` or tab is prefixed with `'` so a spreadsheet never runs a job id chosen by a stranger.
 */
function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe
}

/** Renders receipts oldest first (ties by id). Amounts are micro-credits, prices per 10^9 fuel. */
export function formatReceipts(receipts: readonly VerifiedReceipt[], format: ExportFormat): string {
  const rows = [...receipts]
    .sort((a, b) => a.info.timestampMs - b.info.timestampMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map(exported)
  if (format === 'json') return `${JSON.stringify(rows, null, 2)}\n`
  const lines = [CSV_COLUMNS.join(',')]
  for (const r of rows) {
    const values = [
      r.id,
      r.timestamp,
      r.taskId,
      r.jobId,
      r.submitter,
      r.executor,
      r.verdict,
      r.fuelUsed,
      r.pricePerGfuel,
      r.amount,
      String(r.sequence),
    ]
    lines.push(values.map(csvField).join(','))
  }
  return `${lines.join('\r\n')}\r\n`
}
