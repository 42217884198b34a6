/**
 * Process set-up that must come before any libp2p module is evaluated: it is the first import of
 * the CLI entry and is preloaded with `--import` by the test runner and benchmarks.
 *
 * - Node 20 lacks `Promise.withResolvers`, which libp2p v3 (through it-queue and mortice) calls.
 * - libp2p's logger (weald, like `debug`) asks whether stderr is a terminal, one `isatty` system
 *   call, for every logger it makes, and yamux and multistream-select make several per stream:
 *   1.3 % of the CPU of bench/mesh.ts at 30 nodes. The answer does not change while the process
 *   runs, so it is given once through the logger's own setting, DEBUG_COLORS, unless the user set it.
 */
interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const P = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> }
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = function withResolvers<T>(): Resolvers<T> {
    let resolve!: (value: T | PromiseLike<T>) => void
    let reject!: (reason?: unknown) => void
    const promise = new Promise<T>((res, rej) => {
      resolve = res
      reject = rej
    })
    return { promise, resolve, reject }
  }
}

if (process.env.DEBUG_COLORS === undefined) {
  process.env.DEBUG_COLORS = process.stderr.isTTY === true ? 'true' : 'false'
}

export {}
