import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
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
/** Permission bits of a swarm key file that let anyone but its owner read or change it. */
const GROUP_OR_OTHERS = 0o077

/**
 * Writes a new swarm key to `path` with mode 0600 (owner only), refusing to overwrite a file:
 * whoever can read the key can join the swarm.
 * @throws SwarmKeyError when the file exists or cannot be written
 */
export async function writeSwarmKeyFile(path: string): Promise<void> {
  try {
    await writeFile(path, `${new TextDecoder().decode(newSwarmKey())}\n`, { mode: 0o600, flag: 'wx' })
    await chmod(path, 0o600) // whatever the umask
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST')
      throw new SwarmKeyError(`${path} already exists; remove it first or pick another name`)
    throw new SwarmKeyError(`cannot write ${path}: ${(err as Error).message}`)
  }
}

/**
 * Reads and checks a swarm key file, as ssh does with private keys: a file that group or others
 * may read (or write) is refused, with the `chmod` that fixes it. Anyone who reads the key can
 * join the swarm and see everything in it.
 * @throws SwarmKeyError naming the file and what to do
 */
export async function readSwarmKeyFile(path: string): Promise<Uint8Array> {
  let mode: number
  let bytes: Uint8Array
  try {
    mode = (await stat(path)).mode
    bytes = await readFile(path)
  } catch (err) {
    throw new SwarmKeyError(`cannot read swarm key ${path}: ${(err as Error).message}`)
  }
  if (process.platform !== 'win32' && (mode & GROUP_OR_OTHERS) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(4, '0')
    throw new SwarmKeyError(
      `swarm key ${path} is accessible by others (mode ${octal}); anyone who reads it can join the swarm. ` +
        `Fix it with: chmod 600 ${path}`,
    )
  }
  return parseSwarmKey(bytes, path)
}

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
      `${source} does not start with ${HEADER} (make one with: plusone swarm-key -o swarm.key)`,
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
