/**
 * Shared pieces of the hostile-peer suite (issue 11): an attacker is a plain libp2p node (or a
 * daemon with a `--fault`) that speaks the wire protocols directly, never through the market.
 */
import type { Daemon } from '../../src/daemon/index.js'
import { FUEL_PER_GFUEL, type VerifiedReceipt } from '../../src/ledger/index.js'

export const idOf = (d: Daemon): string => d.node.peerId.toString()

/** Micro-credits → credits, as a number a person reads. */
export const credits = (micro: bigint): number => Number(micro) / 1e6

export async function receiptsOf(d: Daemon): Promise<VerifiedReceipt[]> {
  const out: VerifiedReceipt[] = []
  for await (const r of d.ledger.receipts()) out.push(r)
  return out
}

/** The most a submitter offered for one task: its fuel limit at its max price, in micro-credits. */
export function offered(fuel: number, maxPrice: number): bigint {
  return (BigInt(fuel) * BigInt(maxPrice)) / FUEL_PER_GFUEL
}
