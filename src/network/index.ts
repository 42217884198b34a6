/**
 * @packageDocumentation
 *
 * Domain separation by network (issue 11). Every signed plusone message — task announcement,
 * result claim, receipt, capacity record — is signed over `tag || network || message`, where
 * `network` is this 32-byte id: one fixed value for the public mesh, and a hash of the swarm
 * key for a private swarm. A message signed in one network therefore fails signature
 * verification in every other: a receipt, announcement or claim from a private swarm cannot be
 * replayed into the public mesh or another swarm, and the reverse. The swarm key itself never
 * leaves the node: only its hash is mixed in, under a tag of its own.
 */
import { createHash } from 'node:crypto'
import { type VerifyingKey, verifyWith } from './keys.js'

export { signWith, type VerifyingKey, verifyWith } from './keys.js'
export {
  type ConnectionView,
  keptDirection,
  preferredConnection,
  redundantConnections,
} from './connections.js'

/** A network's 32-byte id. */
export type NetworkId = Uint8Array

const PUBLIC_TAG = 'plusone/network/1/public'
const PRIVATE_TAG = 'plusone/network/1/psk\0'

/** The public plusone mesh. */
export const PUBLIC_NETWORK: NetworkId = new Uint8Array(createHash('sha256').update(PUBLIC_TAG).digest())

/** The network a node with this swarm key (or none: the public mesh) belongs to. */
export function networkOf(swarmKey?: Uint8Array): NetworkId {
  if (swarmKey == null) return PUBLIC_NETWORK
  return new Uint8Array(createHash('sha256').update(PRIVATE_TAG).update(swarmKey).digest())
}

/** `public`, or `private:` and the first 8 hex digits of the id, for logs and errors. */
export function networkName(network: NetworkId): string {
  const hex = Buffer.from(network).toString('hex')
  return hex === Buffer.from(PUBLIC_NETWORK).toString('hex') ? 'public' : `private:${hex.slice(0, 8)}`
}

/** `tag || network || message`: the bytes every plusone signature covers. */
export function signedBytes(tag: Uint8Array, network: NetworkId, message: Uint8Array): Uint8Array {
  const out = new Uint8Array(tag.byteLength + network.byteLength + message.byteLength)
  out.set(tag)
  out.set(network, tag.byteLength)
  out.set(message, tag.byteLength + network.byteLength)
  return out
}

/**
 * Verifies a plusone signature over `tag || network || message`; false — never a throw — for a
 * signature of the wrong length or any other malformed input (the key's own check throws a
 * TypeError on those, which must not escape a decoder of network input).
 */
export async function verifySigned(
  key: VerifyingKey,
  tag: Uint8Array,
  network: NetworkId,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  try {
    return await verifyWith(key, signedBytes(tag, network, message), signature)
  } catch {
    return false
  }
}
