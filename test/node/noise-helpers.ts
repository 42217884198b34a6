/** A bare noise encrypter over a given crypto, for handshake tests and bench/noise.ts. */
import { type ICryptoInterface, noise } from '@chainsafe/libp2p-noise'
import type { ConnectionEncrypter, PrivateKey } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

export function encrypter(privateKey: PrivateKey, crypto: ICryptoInterface): ConnectionEncrypter {
  return noise({ crypto })({
    peerId: peerIdFromPrivateKey(privateKey),
    privateKey,
    logger: defaultLogger(),
    // biome-ignore lint/suspicious/noExplicitAny: no stream muxer is negotiated over these pairs
    upgrader: { getStreamMuxers: () => new Map() } as any,
  })
}
