/**
 * The `plusone` package: a typed client of a running daemon (see src/client/index.ts). Importing
 * it loads neither libp2p nor the sandbox; the daemon itself is the `plusone` command.
 */
export * from './client/index.js'
