/**
 * `plusone doctor`: the node's place in the network in plain sentences — can others dial it,
 * which relays it holds, whether UPnP mapped a port, and what to do when nothing works.
 */
import type { ReachabilityReport } from '../client/index.js'
import { daemonClient } from './client.js'
import { type Command, DATA_DIR_OPTION, help, parse, printJson } from './common.js'

const OPTIONS = { ...DATA_DIR_OPTION, json: { type: 'boolean' } } as const

const short = (id: string): string => (id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id)

/** The report in sentences, most important first. */
export function diagnose(r: ReachabilityReport): string[] {
  const out: string[] = []
  const total = r.connections.direct + r.connections.relayed + r.connections.webrtc
  if (total === 0) {
    out.push('This node is connected to nobody.')
    out.push(
      'Check that its bootstrap addresses are right (plusone daemon --bootstrap /ip4/…/tcp/…/p2p/ID), that this machine can reach them, and, in a private swarm, that every member uses the same swarm key file.',
    )
  } else {
    out.push(
      `Connected to ${total} peer connection(s): ${r.connections.direct} direct, ${r.connections.relayed} relayed, ${r.connections.webrtc} WebRTC.`,
    )
  }
  const confirmed = r.confirmed.map((c) => c.address)
  switch (r.reachability) {
    case 'public':
      out.push(
        `Others can dial this node: a peer dialled back ${confirmed.join(', ')}. It takes part fully, and other nodes' tasks can reach it directly.`,
      )
      break
    case 'private': {
      out.push(
        'Others cannot dial this node: peers tried its addresses and none answered (it is behind a home router / NAT, or a firewall).',
      )
      if (r.relaysHeld.length > 0) {
        out.push(
          `That is fine: it holds ${r.relaysHeld.length} relay reservation(s) (${r.relaysHeld.map(short).join(', ')}), so others reach it through them, and it can bid for and run tasks from anyone.`,
        )
        if (r.relaysHeld.length < 2)
          out.push('It looks for a second relay, so that losing one does not cut it off.')
      } else {
        out.push(
          'It holds no relay reservation yet, so other homes cannot reach it: it keeps looking for relays among its peers and in the DHT. Make sure at least one reachable member runs with --relay auto or on.',
        )
      }
      break
    }
    case 'unknown':
      out.push(
        'Not known yet whether others can dial this node: no peer has answered a dial-back request yet (this takes a few seconds after it connects).',
      )
  }
  const upnp = upnpSentence(r)
  if (upnp !== undefined) out.push(upnp)
  if (r.reachability === 'private' && !r.upnp.enabled) {
    out.push(
      'UPnP is off (--no-upnp); if your router offers UPnP, start the daemon without --no-upnp to let it forward a port (then others dial this node directly, no relay needed).',
    )
  }
  if (r.reachability === 'private' && !r.upnp.confirmed) {
    out.push(
      "To be dialled directly, forward the daemon's TCP port (4101 by default, see --listen) on your router to this machine, or switch on UPnP in the router's settings.",
    )
  }
  out.push(...webrtcSentences(r))
  if (r.relay.serving) {
    out.push(`This node relays for homes behind NAT: ${r.relay.reservations} reservation(s) held here.`)
  } else if (r.relay.mode === 'off') {
    out.push('Relaying for others is off (--relay off).')
  } else if (r.reachability !== 'public') {
    out.push('It does not relay for others: a relay must be reachable itself.')
  }
  const failed = r.answers.filter((a) => a.error != null)
  if (failed.length > 0 && r.reachability === 'unknown') {
    out.push(`Dial-back requests failed: ${failed.map((a) => `${short(a.helper)}: ${a.error}`).join('; ')}.`)
  }
  out.push(
    r.advertised.length > 0
      ? `It advertises: ${r.advertised.join(' ')}`
      : 'It advertises no address yet: peers it dials can still use their connection to it.',
  )
  return out
}

/** What became of the UPnP port mapping, judged by dial-back; nothing when it does not matter. */
function upnpSentence(r: ReachabilityReport): string | undefined {
  const { enabled, mapped, confirmed, gateway, externalIp, error } = r.upnp
  if (!enabled) return undefined
  // a node others can dial without a mapping needs none: not worth a sentence
  if (mapped.length === 0 && r.reachability === 'public') return undefined
  if (mapped.length === 0) {
    return error != null
      ? `UPnP is on but no port is mapped: ${error}.`
      : 'UPnP is on: looking for a UPnP router on the LAN.'
  }
  if (confirmed) {
    return `UPnP worked: the router (${gateway}) forwards ${mapped.join(', ')} to this node, and a peer dialled it there, so others connect to it directly.`
  }
  if (r.reachability === 'private') {
    return `UPnP mapped ${mapped.join(', ')} on the router (${gateway}), but no peer could dial it there: the router is probably behind another NAT (its external address ${externalIp} is not what the internet sees), so relays carry the traffic instead.`
  }
  return `UPnP mapped ${mapped.join(', ')} on the router (${gateway}); a peer has not dialled it there yet (checked within a minute).`
}

/** What WebRTC hole punching did, and what would make it work. */
function webrtcSentences(r: ReachabilityReport): string[] {
  const w = r.webrtc
  if (!w.enabled)
    return ['WebRTC hole punching is off (--webrtc off): connections to other homes stay relayed.']
  const ok = w.upgrades.filter((u) => u.ok).length
  const failed = w.upgrades.filter((u) => !u.ok)
  const out: string[] = []
  if (ok > 0) out.push(`WebRTC worked: ${ok} relayed connection(s) upgraded to direct ones by hole punching.`)
  if (failed.length > 0) {
    out.push(
      `WebRTC hole punching failed ${failed.length} time(s) (last: ${failed[0].error ?? 'no reason given'}); those peers stay relayed, which works but is slower.`,
    )
  }
  for (const c of w.ice) {
    out.push(
      c.ok
        ? `The ICE server ${c.server} answered${c.mapped == null ? '' : `: it sees this node as ${c.mapped}`}.`
        : `The ICE server ${c.server} did not answer (${c.error}): without it this node cannot learn its public UDP address, so hole punching fails and connections to other homes stay relayed. Check the address given with --ice-server, that the server runs, and that UDP to it is not blocked.`,
    )
  }
  if (w.iceServers === 0 && r.reachability === 'private')
    out.push(
      'No ICE (STUN) server is configured: two homes behind different routers cannot find their public UDP addresses, so hole punching between them fails. Give a STUN server both can reach with --ice-server stun:HOST:PORT.',
    )
  return out
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'say whether this node is reachable, which relays it holds, whether UPnP worked',
  help: `Usage: plusone doctor [--json] [--data-dir D]

Explains, in sentences, this node's place in the network: whether other nodes can dial it
(checked by asking peers to dial it back), which relays it holds reservations on when they
cannot, whether UPnP mapped a port on the router, whether WebRTC hole punching upgraded
relayed connections (and why not), whether its ICE (STUN/TURN) servers answer, whether it
relays for others, the
addresses it advertises, and what to do when nothing works.

Options:
      --json         print the report as JSON
      --data-dir D   data directory (default: $PLUSONE_DATA_DIR, else ~/.plusone)
`,
  options: OPTIONS,
  async run(argv) {
    const { values } = parse('doctor', argv, OPTIONS)
    if (values.help) return help(doctorCommand)
    const report = await (await daemonClient(values['data-dir'])).reachability()
    if (values.json) printJson(report)
    else for (const line of diagnose(report)) console.log(line)
    return 0
  },
}
