#!/usr/bin/env node
// The polyfill must be evaluated before any libp2p module: keep it the first import.
import '../src/polyfill.js'
import { main } from '../src/cli/index.js'

// exit explicitly: a stopped daemon may leave idle handles (mDNS sockets, timers) behind
process.exit(await main(process.argv.slice(2)))
