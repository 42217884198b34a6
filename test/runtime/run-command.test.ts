import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { runCommand } from '../../src/cli/run.js'
import { ROOT } from './helpers.js'

/** Runs the command with stdout/stderr captured. */
async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await runCommand(argv, {
    stdout: { write: (chunk: string | Uint8Array) => out.push(Buffer.from(chunk).toString()) },
    stderr: { write: (chunk: string | Uint8Array) => err.push(Buffer.from(chunk).toString()) },
  })
  return { code, out: out.join(''), err: err.join('') }
}

describe('plusone run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'plusone-run-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const primes = `${ROOT}examples/build/primes.wasm`

  it('--json prints the outcome with base64 output; two runs agree; exit 0 for ok', async () => {
    const input = join(dir, 'range.txt')
    writeFileSync(input, '0 100')
    const a = await capture([primes, '--input', input, '--json', '--fuel', '50M'])
    const b = await capture([primes, '-i', input, '--json', '--fuel', '50M'])
    assert.equal(a.code, 0)
    const ja = JSON.parse(a.out)
    assert.equal(ja.status, 'ok')
    assert.equal(
      Buffer.from(ja.output, 'base64').toString(),
      'primes in [0, 100): 25, sum 1060, largest 97\n',
    )
    assert.match(ja.outputHash, /^[0-9a-f]{64}$/)
    assert.equal(typeof ja.fuelUsed, 'number')
    assert.deepEqual(JSON.parse(b.out), ja)
  })

  it('writes the output to -o and a summary to stderr', async () => {
    const out = join(dir, 'tile.bin')
    const r = await capture([`${ROOT}examples/build/mandelbrot.wasm`, '-o', out])
    assert.equal(r.code, 0)
    assert.equal(r.out, '')
    assert.match(r.err, /^ok · fuel [\d,]+ · output 65536 bytes/)
  })

  it('a file that is not WebAssembly is invalid_module, not a stack trace', async () => {
    const r = await capture([`${ROOT}package.json`, '--json'])
    assert.equal(r.code, 1)
    assert.equal(JSON.parse(r.out).status, 'invalid_module')
  })

  it('a non-ok outcome exits 1', async () => {
    const r = await capture([`${ROOT}examples/build/wat/infinite_loop.wasm`, '--fuel', '1k'])
    assert.equal(r.code, 1)
    assert.match(r.err, /^out_of_fuel/)
  })

  it('bad usage is one line on stderr and exit 2', async () => {
    for (const argv of [[], ['--fuel', 'lots', primes], [join(dir, 'missing.wasm')], ['--nope', primes]]) {
      const r = await capture(argv)
      assert.equal(r.code, 2, argv.join(' '))
      assert.match(r.err, /^plusone run: [^\n]+\n$/)
    }
  })

  it('--help prints usage', async () => {
    const r = await capture(['--help'])
    assert.equal(r.code, 0)
    assert.match(r.out, /^Usage: plusone run MODULE\.wasm/)
  })
})
