/**
 * The preparer process (started by sandbox.ts): checks, meters and validates untrusted modules
 * one at a time, away from the daemon's event loop, and sends back the rewritten bytes or the
 * reason the module is invalid. The pool SIGKILLs it when one module takes longer than its time
 * limit, and starts another.
 *
 * Argument `--delay-ms=N` (tests only): spin N ms before each module, using CPU as a pathological
 * module would.
 */
import { InvalidModuleError } from './parse.js'
import { checkAndRewrite, validateRewritten } from './prepare.js'
import type { FromPreparer, ToPreparer } from './protocol.js'

const send = process.send?.bind(process)
if (!send) throw new Error('runtime/prepare-worker.js must be started by the runtime pool')

const delayArg = process.argv.find((a) => a.startsWith('--delay-ms='))
const delayMs = delayArg ? Number(delayArg.slice('--delay-ms='.length)) : 0

process.on('message', (msg: ToPreparer) => {
  const spinUntil = performance.now() + delayMs
  while (performance.now() < spinUntil) {}
  try {
    const module = checkAndRewrite(msg.bytes, { maxModuleBytes: msg.maxModuleBytes })
    validateRewritten(msg.bytes, module)
    send({ type: 'prepared', id: msg.id, module } satisfies FromPreparer)
  } catch (err) {
    if (err instanceof InvalidModuleError)
      send({ type: 'invalid', id: msg.id, message: err.message } satisfies FromPreparer)
    else {
      const e = err instanceof Error ? err : new Error(String(err))
      send({ type: 'failed', id: msg.id, name: e.name, message: e.message } satisfies FromPreparer)
    }
  }
})

process.on('SIGINT', () => {})
process.on('disconnect', () => process.exit(0))
send({ type: 'ready' } satisfies FromPreparer)
