/** The operator's sizes and durations (`--cache-size`, `--job-retention`, config.json). */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError, defaultConfig, parseDuration, parseSize, validateConfig } from '../../src/config.js'

describe('config: sizes and durations', () => {
  it('reads sizes in binary units, and refuses anything else', () => {
    assert.equal(parseSize('512MiB'), 512 * 2 ** 20)
    assert.equal(parseSize('2GiB'), 2 * 2 ** 30)
    assert.equal(parseSize('1.5g'), 1.5 * 2 ** 30)
    assert.equal(parseSize('1048576'), 2 ** 20)
    assert.equal(parseSize(defaultConfig().cacheSize), 2 ** 30, 'the default is 1 GiB')
    for (const bad of ['', 'lots', '-1GiB', '1 parsec', '1e3']) assert.equal(parseSize(bad), undefined, bad)
  })

  it('reads durations, 0 meaning keep', () => {
    assert.equal(parseDuration('30d'), 30 * 86_400_000)
    assert.equal(parseDuration('12h'), 12 * 3_600_000)
    assert.equal(parseDuration('90m'), 90 * 60_000)
    assert.equal(parseDuration('0'), 0)
    for (const bad of ['', 'soon', '3', '-1d']) assert.equal(parseDuration(bad), undefined, bad)
  })

  it('names the bad field of a config', () => {
    assert.throws(
      () => validateConfig({ ...defaultConfig(), cacheSize: 'huge' }, 'config.json'),
      (err: Error) => {
        assert.ok(err instanceof ConfigError)
        assert.match(err.message, /"cacheSize" must be a size such as 512MiB/)
        return true
      },
    )
    assert.throws(
      () => validateConfig({ ...defaultConfig(), jobRetention: 'forever' }, 'config.json'),
      /"jobRetention"/,
    )
    assert.throws(
      () => validateConfig({ ...defaultConfig(), dedupe: 'no' as unknown as boolean }, 'config.json'),
      /"dedupe" must be true or false/,
    )
  })
})
