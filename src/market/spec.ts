/**
 * Task specs and the two signed messages of the market: announcements (gossip) and result claims
 * (stream). Every decoder here is bounded and throws a named error; nothing trusts a peer's bytes.
 */
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { concat as uint8ArrayConcat } from 'uint8arrays/concat'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { type BlobCid, blobCidOf, parseBlobCid } from '../blobs/index.js'
import {
  Announcement as PbAnnouncement,
  ResultClaim as PbClaim,
  TaskSpec as PbSpec,
  SignedClaim,
} from '../pb/market.js'
import {
  type NetworkId,
  networkName,
  PUBLIC_NETWORK,
  signedBytes,
  signWith,
  verifySigned,
  verifyWith,
} from '../network/index.js'
import { type OutcomeStatus, outcomeHash } from '../runtime/index.js'
import { InvalidAnnouncementError, InvalidClaimError, InvalidTaskSpecError } from './errors.js'

/** Largest announcement accepted from gossip. */
export const MAX_ANNOUNCEMENT_BYTES = 4096
/** Largest signed claim accepted on `/plusone/result/1.0.0`. */
export const MAX_CLAIM_BYTES = 2048
export const MAX_JOB_ID_CHARS = 64
export const NONCE_BYTES = 16
/** Replicas a spec may ask for. */
export const MAX_REPLICAS = 15
/** `TaskSpec.replicas` of a task submitted with `replicas: 'auto'` (adaptive replication). */
export const AUTO_REPLICAS = 0
/** Longest a task may stay announced. */
export const MAX_TASK_TTL_MS = 7 * 24 * 60 * 60 * 1000

const ANNOUNCE_TAG = uint8ArrayFromString('plusone/task-announce/1\0')
const CLAIM_TAG = uint8ArrayFromString('plusone/result-claim/1\0')
const STATUSES: readonly OutcomeStatus[] = [
  'ok',
  'error',
  'trap',
  'out_of_fuel',
  'out_of_memory',
  'output_too_large',
  'invalid_module',
]

/** A task as the market sees it (DESIGN.md §3 step 1). */
export interface TaskSpec {
  moduleCid: BlobCid
  inputCid: BlobCid
  fuel: number
  memoryBytes: number
  maxOutputBytes: number
  /**
   * Replicas k, or {@link AUTO_REPLICAS} (0) for adaptive replication: the submitter decides per
   * task how many executors run it and announces every such task alike, so nobody can tell a
   * spot check from a single-replica task.
   */
  replicas: number
  /** Time an awarded executor has to return its claim. */
  deadlineMs: number
  /** Highest ask accepted, micro-credits per Gfuel. */
  maxPrice: number
  jobId: string
  nonce: Uint8Array
  /** Peer id string of the submitter (who signs its announcements). */
  submitter: string
  createdAt: number
  /** Announcements of this task are void after this (ms since the epoch). */
  expiresAt: number
}

/** The same bytes typed as backed by an ArrayBuffer (what the generated codecs want). */
export function ab(u: Uint8Array): Uint8Array<ArrayBuffer> {
  return u.buffer instanceof ArrayBuffer ? (u as Uint8Array<ArrayBuffer>) : new Uint8Array(u)
}

function specFail(message: string): never {
  throw new InvalidTaskSpecError(message)
}

function peerBytes(peerId: string): Uint8Array {
  return peerIdFromString(peerId).toMultihash().bytes
}

function peerString(bytes: Uint8Array): string {
  return peerIdFromMultihash(Digest.decode(bytes)).toString()
}

/** Checks a spec's numbers; throws InvalidTaskSpecError with the first problem. */
export function checkSpec(spec: TaskSpec): void {
  const ints: Array<[string, number, number]> = [
    ['fuel', spec.fuel, 1],
    ['memoryBytes', spec.memoryBytes, 65536],
    ['maxOutputBytes', spec.maxOutputBytes, 0],
    ['replicas', spec.replicas, AUTO_REPLICAS],
    ['deadlineMs', spec.deadlineMs, 1],
    ['maxPrice', spec.maxPrice, 0],
    ['createdAt', spec.createdAt, 0],
    ['expiresAt', spec.expiresAt, 1],
  ]
  for (const [name, v, min] of ints) {
    if (!Number.isSafeInteger(v) || v < min) specFail(`${name} must be an integer ≥ ${min}, got ${v}`)
  }
  if (spec.replicas > MAX_REPLICAS) specFail(`replicas must be at most ${MAX_REPLICAS}`)
  if (spec.jobId.length > MAX_JOB_ID_CHARS) specFail(`job id is longer than ${MAX_JOB_ID_CHARS} characters`)
  if (spec.nonce.byteLength !== NONCE_BYTES) specFail(`nonce must be ${NONCE_BYTES} bytes`)
  if (spec.expiresAt <= spec.createdAt) specFail('expiresAt must be after createdAt')
  if (spec.expiresAt - spec.createdAt > MAX_TASK_TTL_MS) specFail('the task lives longer than 7 days')
}

export function encodeSpec(spec: TaskSpec): Uint8Array {
  checkSpec(spec)
  return PbSpec.encode({
    moduleCid: spec.moduleCid.bytes,
    inputCid: spec.inputCid.bytes,
    fuel: spec.fuel,
    memoryBytes: spec.memoryBytes,
    maxOutputBytes: spec.maxOutputBytes,
    replicas: spec.replicas,
    deadlineMs: spec.deadlineMs,
    maxPrice: spec.maxPrice,
    jobId: spec.jobId,
    nonce: ab(spec.nonce),
    submitter: ab(peerBytes(spec.submitter)),
    createdAt: spec.createdAt,
    expiresAt: spec.expiresAt,
  })
}

export function decodeSpec(bytes: Uint8Array): TaskSpec {
  let pb: PbSpec
  try {
    pb = PbSpec.decode(bytes)
  } catch (err) {
    specFail(`malformed spec: ${(err as Error).message}`)
  }
  let moduleCid: BlobCid
  let inputCid: BlobCid
  let submitter: string
  try {
    moduleCid = parseBlobCid(pb.moduleCid)
    inputCid = parseBlobCid(pb.inputCid)
  } catch (err) {
    specFail(`bad blob CID: ${(err as Error).message}`)
  }
  try {
    submitter = peerString(pb.submitter)
  } catch {
    specFail('bad submitter peer id')
  }
  const spec: TaskSpec = {
    moduleCid,
    inputCid,
    fuel: pb.fuel,
    memoryBytes: pb.memoryBytes,
    maxOutputBytes: pb.maxOutputBytes,
    replicas: pb.replicas,
    deadlineMs: pb.deadlineMs,
    maxPrice: pb.maxPrice,
    jobId: pb.jobId,
    nonce: pb.nonce,
    submitter,
    createdAt: pb.createdAt,
    expiresAt: pb.expiresAt,
  }
  checkSpec(spec)
  return spec
}

/** Task id: CIDv1 (raw, sha256) of the encoded spec. */
export function taskIdOf(encodedSpec: Uint8Array): BlobCid {
  return blobCidOf(encodedSpec)
}

/** A verified announcement. */
export interface VerifiedAnnouncement {
  taskId: string
  taskIdBytes: Uint8Array
  spec: TaskSpec
  specBytes: Uint8Array
  round: number
  cancelled: boolean
}

function announceSigned(
  specBytes: Uint8Array,
  round: number,
  cancelled: boolean,
  network: NetworkId,
): Uint8Array {
  const head = new Uint8Array(5)
  new DataView(head.buffer).setUint32(0, round)
  head[4] = cancelled ? 1 : 0
  return signedBytes(ANNOUNCE_TAG, network, uint8ArrayConcat([head, specBytes]))
}

export async function signAnnouncement(
  key: PrivateKey,
  specBytes: Uint8Array,
  round: number,
  cancelled = false,
  network: NetworkId = PUBLIC_NETWORK,
): Promise<Uint8Array> {
  const signature = await signWith(key, announceSigned(specBytes, round, cancelled, network))
  return PbAnnouncement.encode({
    spec: ab(specBytes),
    round,
    cancelled,
    signature: new Uint8Array(signature),
  })
}

/**
 * Decodes and checks an announcement: size, shape, that it is signed by the spec's submitter,
 * and that the task has not expired. Dedupe and replay are the caller's (see announce.ts). An
 * announcement signed for another network (network/index.ts) fails the signature check.
 *
 * `sentBy`: the peer these bytes are already known to come from — the remote end of the
 * noise-authenticated connection an invitation arrived on. When that is the spec's submitter,
 * the bytes are authenticated by the connection's handshake and come from this network (every
 * connection is: pnet), so the signature is not checked again (an invitation at k=3 goes to 9
 * executors per round: docs/PERFORMANCE.md). Anyone else's copy — gossip relayed by others, a
 * replay — is checked in full.
 */
export async function verifyAnnouncement(
  bytes: Uint8Array,
  now = Date.now(),
  network: NetworkId = PUBLIC_NETWORK,
  sentBy?: string,
): Promise<VerifiedAnnouncement> {
  const fail = (m: string): never => {
    throw new InvalidAnnouncementError(m)
  }
  if (bytes.byteLength > MAX_ANNOUNCEMENT_BYTES)
    fail(`announcement is ${bytes.byteLength} bytes, over the limit`)
  let pb: PbAnnouncement
  try {
    pb = PbAnnouncement.decode(bytes)
  } catch (err) {
    return fail(`malformed announcement: ${(err as Error).message}`)
  }
  if (pb.signature.byteLength === 0) fail('announcement is unsigned')
  let spec: TaskSpec
  try {
    spec = decodeSpec(pb.spec)
  } catch (err) {
    return fail((err as Error).message)
  }
  const submitter = peerIdFromMultihash(Digest.decode(peerBytes(spec.submitter)))
  if (submitter.publicKey == null) fail('the submitter peer id embeds no public key')
  let ok = sentBy !== undefined && sentBy === spec.submitter
  try {
    ok ||= await verifyWith(
      submitter.publicKey!,
      announceSigned(pb.spec, pb.round, pb.cancelled, network),
      pb.signature,
    )
  } catch {
    ok = false // a signature of the wrong length
  }
  if (!ok) fail(`signature is not by the submitter in this network (${networkName(network)})`)
  if (spec.expiresAt <= now) fail('the task has expired')
  const taskId = taskIdOf(pb.spec)
  return {
    taskId: taskId.toString(),
    taskIdBytes: taskId.bytes,
    spec,
    specBytes: pb.spec,
    round: pb.round,
    cancelled: pb.cancelled,
  }
}

/** What an executor claims about one run of one task. */
export interface Claim {
  taskId: string
  executor: string
  status: OutcomeStatus
  code?: number
  fuelUsed: number
  outputHash: Uint8Array
  outputCid: BlobCid
  outputBytes: number
  /** Hex of the runtime's outcomeHash: what replicas compare. */
  resultHash: string
}

/** Hex of the canonical outcome hash of a claim's fields. */
export function resultHashOf(c: Pick<Claim, 'status' | 'code' | 'fuelUsed' | 'outputHash'>): string {
  return uint8ArrayToString(
    outcomeHash({ status: c.status, code: c.code, fuelUsed: BigInt(c.fuelUsed), outputHash: c.outputHash }),
    'base16',
  )
}

export async function signClaim(
  key: PrivateKey,
  c: Claim,
  network: NetworkId = PUBLIC_NETWORK,
): Promise<Uint8Array> {
  const claim = PbClaim.encode({
    taskId: CID.parse(c.taskId).bytes,
    executor: ab(peerBytes(c.executor)),
    status: c.status,
    hasCode: c.code !== undefined,
    code: c.code ?? 0,
    fuelUsed: c.fuelUsed,
    outputHash: ab(c.outputHash),
    outputCid: c.outputCid.bytes,
    outcomeHash: uint8ArrayFromString(c.resultHash, 'base16'),
    outputBytes: c.outputBytes,
  })
  const signature = await signWith(key, signedBytes(CLAIM_TAG, network, claim))
  return SignedClaim.encode({ claim, signature: new Uint8Array(signature) })
}

/**
 * Decodes and checks a signed claim: size, shape, signature by `expectedExecutor` (the stream's
 * remote peer), and that its outcome hash matches its own fields.
 */
export async function verifyClaim(
  bytes: Uint8Array,
  expectedExecutor: string,
  network: NetworkId = PUBLIC_NETWORK,
): Promise<Claim> {
  const fail = (m: string): never => {
    throw new InvalidClaimError(m)
  }
  if (bytes.byteLength > MAX_CLAIM_BYTES) fail('claim is over the size limit')
  let signed: SignedClaim
  let pb: PbClaim
  try {
    signed = SignedClaim.decode(bytes)
    pb = PbClaim.decode(signed.claim)
  } catch (err) {
    return fail(`malformed claim: ${(err as Error).message}`)
  }
  let executor: ReturnType<typeof peerIdFromMultihash>
  try {
    executor = peerIdFromMultihash(Digest.decode(pb.executor))
  } catch {
    return fail('bad executor peer id')
  }
  if (executor.toString() !== expectedExecutor) fail('claim names another executor than the sender')
  if (executor.publicKey == null) fail('executor peer id embeds no public key')
  if (!(await verifySigned(executor.publicKey!, CLAIM_TAG, network, signed.claim, signed.signature))) {
    fail(`claim signature is not by the executor in this network (${networkName(network)})`)
  }
  if (!STATUSES.includes(pb.status as OutcomeStatus)) fail(`unknown status ${pb.status.slice(0, 32)}`)
  if (pb.outputHash.byteLength !== 32) fail('output hash is not 32 bytes')
  if (!Number.isSafeInteger(pb.fuelUsed) || !Number.isSafeInteger(pb.outputBytes))
    fail('numbers out of range')
  let taskId: string
  let outputCid: BlobCid
  try {
    taskId = parseBlobCid(pb.taskId).toString()
    outputCid = parseBlobCid(pb.outputCid)
  } catch {
    return fail('bad task id or output CID')
  }
  if (
    uint8ArrayToString(outputCid.multihash.digest, 'base16') !== uint8ArrayToString(pb.outputHash, 'base16')
  ) {
    fail('output CID does not name the output hash')
  }
  const claim: Claim = {
    taskId,
    executor: expectedExecutor,
    status: pb.status as OutcomeStatus,
    code: pb.hasCode ? pb.code : undefined,
    fuelUsed: pb.fuelUsed,
    outputHash: pb.outputHash,
    outputCid,
    outputBytes: pb.outputBytes,
    resultHash: '',
  }
  claim.resultHash = resultHashOf(claim)
  if (claim.resultHash !== uint8ArrayToString(pb.outcomeHash, 'base16'))
    fail('outcome hash does not match the claim')
  return claim
}

/**
 * Checks a verified claim against the task it claims for: what the executor reports must fit
 * inside the limits the submitter set. A claim with more fuel than the spec's limit, or more
 * output than its maximum, cannot come from an honest run (the sandbox stops at the limit and
 * reports `out_of_fuel` with exactly the limit), so it is invalid: refused, never counted, never
 * paid.
 * @throws InvalidClaimError naming the broken limit
 */
export function checkClaimAgainstSpec(claim: Claim, spec: TaskSpec): void {
  if (claim.fuelUsed > spec.fuel)
    throw new InvalidClaimError(`claimed fuel ${claim.fuelUsed} is above the task's limit of ${spec.fuel}`)
  if (claim.outputBytes > spec.maxOutputBytes)
    throw new InvalidClaimError(
      `claimed output of ${claim.outputBytes} bytes is above the task's limit of ${spec.maxOutputBytes}`,
    )
}

/**
 * The payment rule (SECURITY.md, "what an executor can do"): an executor whose result was accepted
 * is paid for the fuel the agreeing replicas reported — the quorum's value, which every member
 * of the winning group signed identically because fuel is part of the outcome hash — and never
 * more than the submitter offered: the spec's fuel limit at no more than its max price. A single
 * executor's own figure is never trusted beyond those bounds.
 *
 * @param agreedFuel fuel of the accepted result (the same in every claim of the winning group)
 * @param bidPrice the executor's winning bid, micro-credits per Gfuel
 */
export function payableTerms(
  spec: Pick<TaskSpec, 'fuel' | 'maxPrice'>,
  agreedFuel: number,
  bidPrice: number,
): { fuelUsed: number; price: number } {
  const fuelUsed = Number.isSafeInteger(agreedFuel) && agreedFuel > 0 ? Math.min(agreedFuel, spec.fuel) : 0
  const price = Number.isSafeInteger(bidPrice) && bidPrice > 0 ? Math.min(bidPrice, spec.maxPrice) : 0
  return { fuelUsed, price }
}

/**
 * The fuel the quorum agreed on: the fuel of the accepted claims when they all report the same
 * figure (they do: fuel is inside the compared outcome hash), else 0 — nothing is paid on a figure
 * the replicas did not agree on.
 */
export function agreedFuelOf(acceptedClaims: readonly Pick<Claim, 'fuelUsed'>[]): number {
  if (acceptedClaims.length === 0) return 0
  const first = acceptedClaims[0].fuelUsed
  return acceptedClaims.every((c) => c.fuelUsed === first) ? first : 0
}
