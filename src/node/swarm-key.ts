import { generateKey } from '@libp2p/pnet'

export class SwarmKeyError extends Error {
  static name = 'SwarmKeyError'
  constructor(message: string) {
    super(message)
    this.name = 'SwarmKeyError'
  }
}

/** A new pre-shared key in the standard libp2p/IPFS swarm-key v1 text format. */
export function newSwarmKey(): Uint8Array {
  const key = new Uint8Array(95)
  generateKey(key)
  return key
}

const HEADER = '/key/swarm/psk/1.0.0/'

/**
 * Checks that `bytes` is a swarm key pnet will accept, so a bad file gets one clear sentence at
 * start-up rather than a failure deep inside the first connection.
 */
export function parseSwarmKey(bytes: Uint8Array, source = 'swarm key'): Uint8Array {
  const lines = new TextDecoder()
    .decode(bytes)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
  if (lines[0] !== HEADER) {
    throw new SwarmKeyError(
      `${source} does not start with ${HEADER} (make one with: plusone swarm-key > swarm.key)`,
    )
  }
  if (lines[1] !== '/base16/') {
    throw new SwarmKeyError(`${source}: only the /base16/ encoding is supported`)
  }
  if (lines[2] == null || !/^[0-9a-fA-F]{64}$/.test(lines[2])) {
    throw new SwarmKeyError(`${source}: the key must be 64 hexadecimal characters (256 bits)`)
  }
  return new TextEncoder().encode(`${HEADER}\n/base16/\n${lines[2].toLowerCase()}`)
}
