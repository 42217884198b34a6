import { chmod, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

export const IDENTITY_FILE = 'identity.key'

export class IdentityError extends Error {
  static name = 'IdentityError'
  constructor(message: string) {
    super(message)
    this.name = 'IdentityError'
  }
}

/** Reads the node's Ed25519 key from `<dataDir>/identity.key`; a clear error if missing or corrupt. */
export async function readIdentity(dataDir: string): Promise<PrivateKey> {
  const file = join(dataDir, IDENTITY_FILE)
  let bytes: Uint8Array
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new IdentityError(`no identity at ${file}: run "plusone init --data-dir ${dataDir}" first`)
    }
    throw new IdentityError(`cannot read ${file}: ${(err as Error).message}`)
  }
  try {
    const key = privateKeyFromProtobuf(bytes)
    if (key.type !== 'Ed25519') throw new Error(`key type ${key.type}`)
    return key
  } catch (err) {
    throw new IdentityError(
      `${file} is not a valid plusone identity (${(err as Error).message}); restore it from a backup, or move it away and run "plusone init" to make a new peer id`,
    )
  }
}

/** Keeps an existing identity; otherwise makes a new Ed25519 key, written atomically with mode 0600. */
export async function loadOrCreateIdentity(dataDir: string): Promise<{ key: PrivateKey; created: boolean }> {
  try {
    return { key: await readIdentity(dataDir), created: false }
  } catch (err) {
    if (!(err instanceof IdentityError) || !err.message.startsWith('no identity')) throw err
  }
  const key = await generateKeyPair('Ed25519')
  const file = join(dataDir, IDENTITY_FILE)
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600, flush: true })
  await chmod(tmp, 0o600)
  await rename(tmp, file)
  return { key, created: true }
}
