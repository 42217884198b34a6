import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { planService } from '../../src/cli/service-command.js'
import { BIN, cli } from './helpers.js'

function systemdAnalyze(args: string[]): Promise<{ code: number; output: string } | undefined> {
  return new Promise((resolve) => {
    execFile('systemd-analyze', args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') return resolve(undefined)
      resolve({
        code: err == null ? 0 : Number((err as { code?: number }).code ?? 1),
        output: `${stdout}${stderr}`,
      })
    })
  })
}

describe('plusone service: the daemon at login', () => {
  let root: string
  let config: string
  let dataDir: string
  const env = (): Record<string, string> => ({ XDG_CONFIG_HOME: config })

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'plusone-service-'))
    config = join(root, 'config home')
    // a space and a % in the path: the unit must quote and escape them
    dataDir = join(root, 'data 100%')
  })
  after(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('install refuses a data directory without plusone init, in one line', async () => {
    const r = await cli(['service', 'install', '--no-systemctl', '--data-dir', dataDir], { env: env() })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /no config at .*plusone init/)
    await assert.rejects(stat(join(config, 'systemd', 'user', 'plusone.service')))
  })

  it('install writes a systemd user unit in $XDG_CONFIG_HOME that systemd-analyze accepts', async (t) => {
    assert.equal((await cli(['init', '--data-dir', dataDir])).code, 0)
    const r = await cli(['service', 'install', '--no-systemctl', '--data-dir', dataDir], { env: env() })
    assert.equal(r.code, 0, r.stderr)
    const unit = join(config, 'systemd', 'user', 'plusone.service')
    assert.match(r.stdout, new RegExp(`wrote ${unit.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
    assert.match(
      r.stdout,
      /enable it with: systemctl --user daemon-reload && systemctl --user enable --now plusone\.service/,
    )
    const text = await readFile(unit, 'utf8')
    assert.ok(
      text.includes(
        `ExecStart="${process.execPath}" "${BIN}" "daemon" "--data-dir" "${dataDir.replace('%', '%%')}"`,
      ),
      text,
    )
    assert.match(text, /^WantedBy=default\.target$/m)
    const verified = await systemdAnalyze(['verify', unit])
    if (verified == null) {
      t.skip('systemd-analyze is not installed: the unit was not verified')
      return
    }
    assert.equal(verified.code, 0, verified.output)
    assert.equal(verified.output.trim(), '', `no warnings: ${verified.output}`)
  })

  it('status shows the unit as installed and current, and that no daemon answers', async () => {
    const r = await cli(['service', 'status', '--json', '--no-systemctl', '--data-dir', dataDir], {
      env: env(),
    })
    assert.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout)
    assert.equal(s.kind, 'systemd')
    assert.equal(s.installed, true)
    assert.equal(s.current, true)
    assert.match(s.daemon, /^not answering: no plusone daemon is running/)
  })

  it('uninstall removes the unit; a second uninstall says there is none', async () => {
    const unit = join(config, 'systemd', 'user', 'plusone.service')
    let r = await cli(['service', 'uninstall', '--no-systemctl', '--data-dir', dataDir], { env: env() })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^removed /)
    await assert.rejects(stat(unit))
    r = await cli(['service', 'uninstall', '--no-systemctl', '--data-dir', dataDir], { env: env() })
    assert.match(r.stdout, /^no service installed at /)
    r = await cli(['service', 'status', '--no-systemctl', '--data-dir', dataDir], { env: env() })
    assert.match(r.stdout, /^systemd service plusone: not installed/)
  })

  it('bad usage is one line and exit 2', async () => {
    for (const args of [['service'], ['service', 'start'], ['service', 'install', '--name', '../x']]) {
      const r = await cli([...args, '--no-systemctl', '--data-dir', dataDir], { env: env() })
      assert.equal(r.code, 2, args.join(' '))
      assert.equal(r.stderr.trim().split('\n').length, 1)
    }
  })

  it('on macOS: a launchd agent that runs at load, restarts on failure, with escaped paths', () => {
    const plan = planService({
      platform: 'darwin',
      dataDir: '/Users/a&b/.plusone',
      node: '/usr/local/bin/node',
      bin: '/opt/plusone/dist/bin/plusone.js',
      home: '/Users/a&b',
      uid: 501,
    })
    assert.equal(plan.path, '/Users/a&b/Library/LaunchAgents/net.plusone.plusone.plist')
    assert.match(plan.content, /<key>Label<\/key>\s*<string>net\.plusone\.plusone<\/string>/)
    assert.match(
      plan.content,
      /<key>ProgramArguments<\/key>\s*<array>\s*<string>\/usr\/local\/bin\/node<\/string>\s*<string>\/opt\/plusone\/dist\/bin\/plusone\.js<\/string>\s*<string>daemon<\/string>\s*<string>--data-dir<\/string>\s*<string>\/Users\/a&amp;b\/\.plusone<\/string>\s*<\/array>/,
    )
    assert.match(plan.content, /<key>RunAtLoad<\/key>\s*<true\/>/)
    assert.match(plan.content, /<key>SuccessfulExit<\/key>\s*<false\/>/)
    assert.doesNotMatch(plan.content, /a&b/, 'every & is escaped')
    assert.deepEqual(plan.enable, [['launchctl', 'bootstrap', 'gui/501', plan.path]])
    assert.deepEqual(plan.disable, [['launchctl', 'bootout', 'gui/501/net.plusone.plusone']])
  })

  it('elsewhere: a clear refusal', () => {
    assert.throws(
      () => planService({ platform: 'win32', dataDir: 'C:\\plusone' }),
      /Linux \(systemd\) and macOS/,
    )
  })
})
