/**
 * A small internet in network namespaces, for the NAT tests and bench/reachability.ts:
 *
 * ```
 *                      inet (bridge br0, 198.18.0.0/24: the "internet")
 *      ┌──────────┬──────────┬──────────┬──────────────┬──────────────┐
 *   p  .1      p2 .2     out .9      ra .11 (wan)   rb .12 ...     rc .13, ru .14
 *   (public)  (public)  (outsider)  │ masquerade      │
 *                                   a  198.19.1.2    b  198.19.2.2   c, u
 * ```
 *
 * Each home sits on its own LAN (198.19.N.0/24) behind its own router namespace, which forwards
 * and masquerades onto the internet with nftables: homes can dial out, nobody can dial in. The
 * router of home `u` can also run miniupnpd. Every name starts with a prefix holding this
 * process's pid, so parallel runs never collide; nothing is added to the machine's own namespace.
 */
import { execFileSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { run } from '../crash/helpers.js'

export const INTERNET = '198.18.0'

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

/** Why the lab cannot run here, or undefined when it can. */
export function labUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (CI runs it as root)'
  for (const [cmd, args, pkg] of [
    ['ip', ['-V'], 'iproute2'],
    ['nft', ['--version'], 'nftables'],
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

export class NatLab {
  readonly tag = `p1n-${process.pid}`
  readonly inet = `${this.tag}-inet`
  readonly hosts = new Map<string, Host>()
  private readonly namespaces: string[] = []
  private readonly pids: number[] = []

  constructor(private readonly workDir: string) {}

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
   * A home computer behind its own masquerading router: the router's WAN is `198.18.0.<wanOctet>`,
   * the LAN `198.19.<lanOctet>.0/24` with the router at .1 and the computer at .2.
   */
  async addHome(name: string, wanOctet: number, lanOctet: number): Promise<Home> {
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
        '',
      ].join('\n'),
    )
    await sh(['ip', 'netns', 'exec', routerNs, 'nft', '-f', rules])
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
