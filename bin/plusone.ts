#!/usr/bin/env node
// The polyfill must be evaluated before any libp2p module: keep it the first import.
import '../src/polyfill.js'
import { main } from '../src/cli/index.js'

/** Resolves once everything written to `stream` so far has been handed to the OS. */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || !stream.writable) return Promise.resolve()
  return new Promise((resolve) => {
    stream.once('error', () => resolve())
    stream.write('', () => resolve())
  })
}

const code = await main(process.argv.slice(2))
process.exitCode = code
// a pipe's reader may be slower than we are: exit only once stdout and stderr are flushed, or
// `plusone run M --json | jq` reads a cut-off document. Exit explicitly then: a stopped daemon
// may leave idle handles (mDNS sockets, timers) behind.
await Promise.all([drained(process.stdout), drained(process.stderr)])
process.exit(code)
