/**
 * WebRTC additions to the NAT lab (lab.ts), shared by test/nat/webrtc.test.ts and
 * bench/reachability.ts: the lab's own STUN server, and a "full cone" home router.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run } from '../crash/helpers.js'
import type { Home, PublicHost } from './lab.js'

export const STUN_PORT = 3478
const STUN_SERVER = fileURLToPath(new URL('./ice-stun-server.js', import.meta.url))

/** The `--ice-server` URL of the STUN server on `host`. */
export function stunUrl(host: Pick<PublicHost, 'ip'>): string {
  return `stun:${host.ip}:${STUN_PORT}`
}

/** Starts the lab's STUN server on a public host; kill the returned process when done. */
export async function startStun(host: PublicHost): Promise<ChildProcess> {
  const proc = spawn(
    'ip',
    ['netns', 'exec', host.ns, process.execPath, STUN_SERVER, host.ip, String(STUN_PORT)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  await once(proc.stdout as NodeJS.ReadableStream, 'data')
  return proc
}

/**
 * Full-cone behaviour on a home router, beside its masquerade: inbound UDP goes to the home
 * computer with the port kept, so whatever address STUN reported works for every peer.
 */
export async function fullCone(home: Home, dir: string): Promise<void> {
  const rules = join(dir, `fullcone-${home.name}.nft`)
  await writeFile(
    rules,
    [
      'table ip fullcone {',
      '  chain prerouting {',
      '    type nat hook prerouting priority dstnat; policy accept;',
      `    iifname "wan" udp dport 1024-65535 dnat to ${home.ip}`,
      '  }',
      '}',
      '',
    ].join('\n'),
  )
  const r = await run(['ip', 'netns', 'exec', home.routerNs, 'nft', '-f', rules], 10_000)
  if (r.code !== 0) throw new Error(`nft -f ${rules}: ${r.stderr.trim()}`)
}
