/**
 * A small internet in network namespaces, for the NAT tests and bench/reachability.ts:
 *
 * ```
 *                      inet (bridge br0, 198.18.0.0/24: the "internet")
 *      ┌──────────┬──────────┬──────────┬──────────────┬──────────────┐
 *   p  .1      p2 .2     stun .5/.6  out .9   ra .11 (wan)   rb .12 ...   rc .13, ru .14
 *   (public)  (public)                          │ masquerade     │
 *                                               a  198.19.1.2    b  198.19.2.2   c, u
 * ```
 *
 * Each home sits on its own LAN (198.19.N.0/24) behind its own router namespace, which forwards
 * and masquerades onto the internet with nftables: homes can dial out, nobody can dial in. A
 * home's router can also run miniupnpd (`addHome(..., { upnp })`): then the home may ask it to
 * forward a port. miniupnpd refuses to forward when its WAN address is reserved (as all of
 * 198.18.0.0/15 is) unless a STUN server on the internet confirms the WAN is unfiltered, so the
 * lab runs one (`addStun`, stun-server.ts). Every name starts with a prefix holding this
 * process's pid, so parallel runs never collide; nothing is added to the machine's own namespace.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CrashNode, run } from '../crash/helpers.js'

export const INTERNET = '198.18.0'
/** The TCP port every lab daemon listens on. */
export const LAB_PORT = 4101

export interface PublicHost {
  kind: 'public'
  name: string
  ns: string
  ip: string
}

export interface Home {
  kind: 'home'
  name: string
  /** The home computer's namespace. */
  ns: string
  /** The router's namespace. */
  routerNs: string
  /** The home computer's LAN address. */
  ip: string
  /** The router's address on the internet (what others see the home as). */
  wanIp: string
  lan: string
}

export type Host = PublicHost | Home

/** How long a lab daemon (STUN server, miniupnpd) gets to say it is ready. */
const DAEMON_READY_MS = 15_000

/** Why the lab cannot run here, or undefined when it can. With `upnp`, miniupnpd is needed too. */
export function labUnavailable(options: { upnp?: boolean } = {}): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (CI runs it as root)'
  for (const [cmd, args, pkg] of [
    ['ip', ['-V'], 'iproute2'],
    ['nft', ['--version'], 'nftables'],
    ...(options.upnp === true ? [['miniupnpd', ['--version'], 'miniupnpd'] as const] : []),
  ] as const) {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' })
    } catch {
      return `needs the \`${cmd}\` command (Debian package ${pkg}; .ci/run installs it)`
    }
  }
  return undefined
}

async function sh(argv: string[]): Promise<void> {
  const r = await run(argv, 10_000)
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.trim()}`)
}

/** The nftables chains miniupnpd (nftables backend) adds its forwarding rules to. */
const MINIUPNPD_TABLE = [
  'table inet miniupnpd {',
  '  chain forward {',
  '    type filter hook forward priority filter; policy accept;',
  '    jump forward_miniupnpd',
  '  }',
  '  chain forward_miniupnpd {',
  '  }',
  '  chain prerouting {',
  '    type nat hook prerouting priority dstnat; policy accept;',
  '    jump prerouting_miniupnpd',
  '  }',
  '  chain prerouting_miniupnpd {',
  '  }',
  '  chain postrouting {',
  '    type nat hook postrouting priority srcnat; policy accept;',
  '    jump postrouting_miniupnpd',
  '  }',
  '  chain postrouting_miniupnpd {',
  '  }',
  '}',
]

export class NatLab {
  readonly tag = `p1n-${process.pid}`
  readonly inet = `${this.tag}-inet`
  readonly hosts = new Map<string, Host>()
  private readonly namespaces: string[] = []
  private readonly pids: number[] = []

  constructor(private readonly workDir: string) {}

  /**
   * A plusone daemon on `host` keeping its data in `dataDir`: a public host listens on its own address, a
   * home on every address it has (behind its router); `extra` are further daemon arguments.
   */
  plusone(host: Host, dataDir: string, extra: string[]): CrashNode {
    const listen = host.kind === 'public' ? `/ip4/${host.ip}/tcp/${LAB_PORT}` : `/ip4/0.0.0.0/tcp/${LAB_PORT}`
    return new CrashNode(host.name, dataDir, ['--listen', listen, ...extra], this.wrap(host))
  }

  private async netns(name: string): Promise<string> {
    const ns = `${this.tag}-${name}`
    await sh(['ip', 'netns', 'add', ns])
    this.namespaces.push(ns)
    await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
    return ns
  }

  /** Creates the internet segment; call before adding hosts. */
  async start(): Promise<void> {
    await this.netns('inet')
    await sh(['ip', '-n', this.inet, 'link', 'add', 'br0', 'type', 'bridge'])
    await sh(['ip', '-n', this.inet, 'link', 'set', 'br0', 'up'])
  }

  /** Plugs interface `dev` of namespace `ns` into the internet bridge with address `ip`. */
  private async plug(ns: string, port: string, dev: string, ip: string): Promise<void> {
    await sh(['ip', '-n', this.inet, 'link', 'add', port, 'type', 'veth', 'peer', 'name', dev, 'netns', ns])
    await sh(['ip', '-n', this.inet, 'link', 'set', port, 'master', 'br0'])
    await sh(['ip', '-n', this.inet, 'link', 'set', port, 'up'])
    await sh(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', dev])
    await sh(['ip', '-n', ns, 'link', 'set', dev, 'up'])
  }

  /** A host with an address on the internet: anyone can dial it. */
  async addPublic(name: string, octet: number): Promise<PublicHost> {
    const ns = await this.netns(name)
    const ip = `${INTERNET}.${octet}`
    await this.plug(ns, `v-${name}`, 'eth0', ip)
    const host: PublicHost = { kind: 'public', name, ns, ip }
    this.hosts.set(name, host)
    return host
  }

  /**
   * A STUN server on the internet at `198.18.0.<octet>` and `.<octet + 1>` (its second address
   * answers CHANGE-REQUESTs); returns the first address.
   */
  async addStun(name: string, octet: number): Promise<string> {
    const host = await this.addPublic(name, octet)
    await sh(['ip', '-n', host.ns, 'addr', 'add', `${INTERNET}.${octet + 1}/24`, 'dev', 'eth0'])
    const script = join(dirname(fileURLToPath(import.meta.url)), 'stun-server.js')
    await this.daemon(host.ns, [process.execPath, script, host.ip, `${INTERNET}.${octet + 1}`], /^ready$/m)
    return host.ip
  }

  /** Runs `argv` in namespace `ns` until the lab stops; resolves once its output matches `ready`. */
  private async daemon(ns: string, argv: string[], ready: RegExp): Promise<void> {
    const proc: ChildProcess = spawn('ip', ['netns', 'exec', ns, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    if (proc.pid != null) this.pids.push(proc.pid)
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        clearTimeout(timer)
        reject(new Error(`${argv.join(' ')} in ${ns}: ${err.message}\n${output.slice(-2000)}`))
      }
      const timer = setTimeout(() => fail(new Error('did not get ready')), DAEMON_READY_MS)
      const onData = (chunk: Buffer): void => {
        output = (output + chunk.toString()).slice(-8192)
        if (ready.test(output)) {
          clearTimeout(timer)
          resolve()
        }
      }
      proc.stdout?.on('data', onData)
      proc.stderr?.on('data', onData)
      proc.on('error', fail)
      proc.on('exit', (code) => fail(new Error(`exited with ${code}`)))
    })
  }

  /**
   * A home computer behind its own masquerading router: the router's WAN is `198.18.0.<wanOctet>`,
   * the LAN `198.19.<lanOctet>.0/24` with the router at .1 and the computer at .2. With `upnp`,
   * the router runs miniupnpd (UPnP IGD and NAT-PMP on the LAN), which checks its WAN with the
   * STUN server at `upnp.stun` and then forwards ports the home asks for.
   */
  async addHome(
    name: string,
    wanOctet: number,
    lanOctet: number,
    options: { upnp?: { stun: string } } = {},
  ): Promise<Home> {
    const routerNs = await this.netns(`r${name}`)
    const ns = await this.netns(name)
    const wanIp = `${INTERNET}.${wanOctet}`
    const lan = `198.19.${lanOctet}`
    await this.plug(routerNs, `v-r${name}`, 'wan', wanIp)
    await sh([
      'ip',
      '-n',
      routerNs,
      'link',
      'add',
      'lan',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      ns,
    ])
    await sh(['ip', '-n', routerNs, 'addr', 'add', `${lan}.1/24`, 'dev', 'lan'])
    await sh(['ip', '-n', routerNs, 'link', 'set', 'lan', 'up'])
    await sh(['ip', '-n', ns, 'addr', 'add', `${lan}.2/24`, 'dev', 'eth0'])
    await sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up'])
    await sh(['ip', '-n', ns, 'route', 'add', 'default', 'via', `${lan}.1`])
    await sh(['ip', 'netns', 'exec', routerNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    const rules = join(this.workDir, `nat-${name}.nft`)
    await writeFile(
      rules,
      [
        'table ip nat {',
        '  chain postrouting {',
        '    type nat hook postrouting priority srcnat; policy accept;',
        '    oifname "wan" masquerade',
        '  }',
        '}',
        ...(options.upnp == null ? [] : MINIUPNPD_TABLE),
        '',
      ].join('\n'),
    )
    await sh(['ip', 'netns', 'exec', routerNs, 'nft', '-f', rules])
    if (options.upnp != null) {
      const conf = join(this.workDir, `miniupnpd-${name}.conf`)
      await writeFile(
        conf,
        [
          'ext_ifname=wan',
          'listening_ip=lan',
          'http_port=0',
          'enable_upnp=yes',
          'enable_natpmp=yes',
          'secure_mode=yes',
          'ext_perform_stun=yes',
          `ext_stun_host=${options.upnp.stun}`,
          'ext_stun_port=3478',
          'upnp_table_name=miniupnpd',
          'upnp_nat_table_name=miniupnpd',
          'upnp_forward_chain=forward_miniupnpd',
          'upnp_nat_chain=prerouting_miniupnpd',
          'upnp_nat_postrouting_chain=postrouting_miniupnpd',
          `uuid=3c5c1e2a-6d55-4f0e-9a3c-${String(process.pid).padStart(12, '0').slice(-12)}`,
          `allow 1024-65535 ${lan}.0/24 1024-65535`,
          'deny 0-65535 0.0.0.0/0 0-65535',
          '',
        ].join('\n'),
      )
      const pidFile = join(this.workDir, `miniupnpd-${name}.pid`)
      await this.daemon(
        routerNs,
        ['miniupnpd', '-d', '-f', conf, '-P', pidFile],
        /Port forwarding is now enabled/,
      )
    }
    const home: Home = { kind: 'home', name, ns, routerNs, ip: `${lan}.2`, wanIp, lan }
    this.hosts.set(name, home)
    return home
  }

  /** The command prefix that runs a program on `host`. */
  wrap(host: Host): string[] {
    return ['ip', 'netns', 'exec', host.ns]
  }

  /** Whether a TCP connection from `from` to `ip:port` opens within a second. */
  async canConnect(from: Host, ip: string, port: number): Promise<boolean> {
    const script = `const s=require('net').connect(${port},'${ip}');s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(2),1000)`
    const r = await run([...this.wrap(from), process.execPath, '-e', script], 10_000)
    return r.code === 0
  }

  /** Removes every namespace this lab created (their interfaces go with them). */
  async stop(): Promise<void> {
    for (const pid of this.pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    for (const ns of this.namespaces.reverse()) {
      await run(['ip', 'netns', 'del', ns], 10_000).catch(() => undefined)
    }
    this.namespaces.length = 0
  }
}
