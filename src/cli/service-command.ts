/**
 * `plusone service install | uninstall | status`: runs the daemon at login, so a plugged-in
 * laptop is a node without a terminal open. A systemd user unit on Linux, a launchd agent on
 * macOS. `planService` is pure (paths and file contents); the command applies the plan.
 */
import { execFile } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { homedir, userInfo } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readConfig, resolveDataDir } from '../config.js'
import {
  CliError,
  type Command,
  DATA_DIR_HELP,
  DATA_DIR_OPTION,
  help,
  parse,
  printJson,
  UsageError,
} from './common.js'

/** The compiled CLI entry the service runs. */
const BIN = fileURLToPath(new URL('../../bin/plusone.js', import.meta.url))
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
/** `systemctl`/`launchctl` get this long per call. */
const TOOL_TIMEOUT_MS = 15_000

export interface ServiceInit {
  platform: NodeJS.Platform
  /** Service name: the unit is NAME.service, the launchd label net.plusone.NAME. @default 'plusone' */
  name?: string
  dataDir: string
  /** Absolute path of node. @default process.execPath */
  node?: string
  /** Absolute path of bin/plusone.js. */
  bin?: string
  home?: string
  /** @default $XDG_CONFIG_HOME, else ~/.config */
  xdgConfigHome?: string
  uid?: number
}

export interface ServicePlan {
  kind: 'systemd' | 'launchd'
  name: string
  /** The file to write. */
  path: string
  content: string
  /** Commands that make the service run now and at every login. */
  enable: string[][]
  /** Commands that stop it and keep it from starting again. */
  disable: string[][]
  /** Commands whose output says whether it is enabled and running. */
  status: string[][]
}

/** systemd's quoting: a word in double quotes, with \ and " escaped; % doubled (specifiers). */
function systemdWord(word: string): string {
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** Where the service file goes and what it says, for this platform. */
export function planService(init: ServiceInit): ServicePlan {
  const name = init.name ?? 'plusone'
  if (!NAME_RE.test(name))
    throw new UsageError(`service: --name must be letters, digits, . _ - (got "${name}")`)
  const node = init.node ?? process.execPath
  const bin = init.bin ?? BIN
  const dataDir = resolve(init.dataDir)
  const home = init.home ?? homedir()
  const argv = [node, bin, 'daemon', '--data-dir', dataDir]
  if (init.platform === 'linux') {
    const unit = `${name}.service`
    const content = `# Written by plusone service install; remove with plusone service uninstall.
[Unit]
Description=plusone node: rents out spare cycles to a peer-to-peer compute mesh (data in ${dataDir.replace(/%/g, '%%')})
After=network-online.target

[Service]
Type=exec
ExecStart=${argv.map(systemdWord).join(' ')}
Restart=on-failure
RestartSec=10s
TimeoutStopSec=10s
# spare cycles: the owner's own work comes first
Nice=10
IOSchedulingClass=idle

[Install]
WantedBy=default.target
`
    const dir = join(init.xdgConfigHome ?? join(home, '.config'), 'systemd', 'user')
    return {
      kind: 'systemd',
      name,
      path: join(dir, unit),
      content,
      enable: [
        ['systemctl', '--user', 'daemon-reload'],
        ['systemctl', '--user', 'enable', '--now', unit],
      ],
      disable: [
        ['systemctl', '--user', 'disable', '--now', unit],
        ['systemctl', '--user', 'daemon-reload'],
      ],
      status: [
        ['systemctl', '--user', 'is-enabled', unit],
        ['systemctl', '--user', 'is-active', unit],
      ],
    }
  }
  if (init.platform === 'darwin') {
    const label = `net.plusone.${name}`
    const logs = join(home, 'Library', 'Logs', `${name}.log`)
    const content = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${xml(label)}</string>
  <key>ProgramArguments</key>
  <array>
${argv.map((a) => `    <string>${xml(a)}</string>`).join('\n')}
  </array>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ProcessType</key>
  <string>Background</string>
  <key>Nice</key>
  <integer>10</integer>
  <key>LowPriorityIO</key>
  <true/>
  <key>StandardOutPath</key>
  <string>${xml(logs)}</string>
  <key>StandardErrorPath</key>
  <string>${xml(logs)}</string>
</dict>
</plist>
`
    const path = join(home, 'Library', 'LaunchAgents', `${label}.plist`)
    const domain = `gui/${init.uid ?? userInfo().uid}`
    return {
      kind: 'launchd',
      name,
      path,
      content,
      enable: [['launchctl', 'bootstrap', domain, path]],
      disable: [['launchctl', 'bootout', `${domain}/${label}`]],
      status: [['launchctl', 'print', `${domain}/${label}`]],
    }
  }
  throw new CliError(
    `service: plusone knows how to run at login on Linux (systemd) and macOS (launchd), not on ${init.platform}`,
  )
}

interface ToolResult {
  ok: boolean
  output: string
}

function tool(argv: string[]): Promise<ToolResult> {
  return new Promise((resolveRun) => {
    execFile(argv[0], argv.slice(1), { timeout: TOOL_TIMEOUT_MS }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim()
      resolveRun({ ok: err == null, output: output === '' && err != null ? err.message : output })
    })
  })
}

const OPTIONS = {
  ...DATA_DIR_OPTION,
  name: { type: 'string' },
  'no-systemctl': { type: 'boolean' },
  json: { type: 'boolean' },
} as const

export const serviceCommand: Command = {
  name: 'service',
  summary: 'run the daemon at login: install, uninstall or show a systemd user unit (launchd on macOS)',
  help: `Usage: plusone service install | uninstall | status [options]

Runs "plusone daemon --data-dir D" whenever you are logged in, so a plugged-in machine is a
node without a terminal open. On Linux: a systemd user unit in
$XDG_CONFIG_HOME/systemd/user/NAME.service (default ~/.config/systemd/user/), started and
enabled with systemctl --user; logs with journalctl --user -u NAME. To keep it running while
you are logged out: loginctl enable-linger $USER. On macOS: a launchd agent in
~/Library/LaunchAgents/net.plusone.NAME.plist, logs in ~/Library/Logs/NAME.log.
The daemon reads its settings from <data-dir>/config.json (run plusone init first).

  install      write the service file, then enable and start it
  uninstall    stop and disable it, then remove the file
  status       show the file, whether it is enabled and running, and whether the daemon answers

Options:
      --name NAME         service name (default plusone), to run several data directories
      --no-systemctl      only write or remove the file: do not call systemctl or launchctl
      --json              status as JSON
${DATA_DIR_HELP}
`,
  options: OPTIONS,
  async run(argv) {
    const { values, positionals } = parse('service', argv, OPTIONS, true)
    if (values.help) return help(serviceCommand)
    const action = positionals[0]
    if (positionals.length !== 1 || !['install', 'uninstall', 'status'].includes(action))
      throw new UsageError('service: expected install, uninstall or status (see plusone service --help)')
    const dataDir = resolveDataDir(values['data-dir'])
    const plan = planService({
      platform: process.platform,
      name: values.name,
      dataDir,
      xdgConfigHome: process.env.XDG_CONFIG_HOME || undefined,
    })
    const manage = values['no-systemctl'] !== true
    const toolName = plan.kind === 'systemd' ? 'systemctl' : 'launchctl'
    if (action === 'install') {
      await readConfig(dataDir) // a clear error now, rather than a unit that fails at every login
      await mkdir(dirname(plan.path), { recursive: true })
      await writeFile(plan.path, plan.content)
      console.log(`wrote ${plan.path}`)
      if (!manage) {
        console.log(`enable it with: ${plan.enable.map((c) => c.join(' ')).join(' && ')}`)
        return 0
      }
      for (const cmd of plan.enable) {
        const r = await tool(cmd)
        if (!r.ok)
          throw new CliError(
            `wrote ${plan.path} but "${cmd.join(' ')}" failed: ${r.output} (run it yourself once ${toolName} works)`,
          )
      }
      console.log(`enabled and started: plusone runs whenever you are logged in (plusone service status)`)
      return 0
    }
    if (action === 'uninstall') {
      const present = await readFile(plan.path, 'utf8').then(
        () => true,
        () => false,
      )
      if (!present) {
        console.log(`no service installed at ${plan.path}`)
        return 0
      }
      if (manage) {
        for (const cmd of plan.disable) {
          const r = await tool(cmd)
          if (!r.ok) process.stderr.write(`"${cmd.join(' ')}" failed: ${r.output}\n`)
        }
      }
      await rm(plan.path, { force: true })
      console.log(`removed ${plan.path}`)
      return 0
    }
    return status(plan, dataDir, manage, values.json === true)
  },
}

async function status(plan: ServicePlan, dataDir: string, manage: boolean, json: boolean): Promise<number> {
  const installed = await readFile(plan.path, 'utf8').then(
    (text) => text,
    () => undefined,
  )
  const checks: Array<{ command: string; ok: boolean; output: string }> = []
  if (manage && installed != null) {
    for (const cmd of plan.status) checks.push({ command: cmd.join(' '), ...(await tool(cmd)) })
  }
  let daemon: string
  try {
    const { connect } = await import('../client/index.js')
    const client = await connect({ dataDir, timeoutMs: 3_000 })
    daemon = `running: ${(await client.id()).peerId} (control API ${client.url})`
  } catch (err) {
    daemon = `not answering: ${(err as Error).message}`
  }
  const current = installed != null && installed === plan.content
  if (json) {
    printJson({
      kind: plan.kind,
      path: plan.path,
      installed: installed != null,
      current,
      checks,
      daemon,
    })
    return 0
  }
  console.log(
    `${plan.kind} service ${plan.name}: ${installed == null ? 'not installed' : 'installed'} (${plan.path})`,
  )
  if (installed != null && !current)
    console.log('the file differs from what plusone service install writes now (run it again to update)')
  for (const c of checks) console.log(`${c.command}: ${c.output}`)
  console.log(`daemon for ${dataDir}: ${daemon}`)
  return 0
}
