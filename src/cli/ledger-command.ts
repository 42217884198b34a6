import { writeFile } from 'node:fs/promises'
import { daemonClient } from './client.js'
import { type Command, DATA_DIR_OPTION, help, parse, printJson, table, UsageError } from './common.js'

const OPTIONS = {
  ...DATA_DIR_OPTION,
  json: { type: 'boolean' },
  export: { type: 'string' },
  out: { type: 'string', short: 'o' },
} as const

export const ledgerCommand: Command = {
  name: 'ledger',
  summary: "this node's balance, earnings over time and peers by reputation, from signed receipts",
  help: `Usage: plusone ledger [--json] [--export csv|json [-o FILE]]

Balances are mutual credit computed from the signed receipts this node has seen: credits
earned running tasks minus credits spent on tasks it submitted. Anyone can check them:
--export writes every receipt with its signature.

Options:
      --json              print JSON
      --export FORMAT     print (or with -o write) every stored receipt as csv or json
  -o, --out FILE          with --export: write to FILE
      --data-dir D        data directory (default: $PLUSONE_DATA_DIR, else ~/.plusone)
`,
  options: OPTIONS,
  async run(argv) {
    const { values } = parse('ledger', argv, OPTIONS)
    if (values.help) return help(ledgerCommand)
    if (values.export != null && values.export !== 'csv' && values.export !== 'json') {
      throw new UsageError('ledger: --export takes csv or json')
    }
    if (values.out != null && values.export == null) throw new UsageError('ledger: -o needs --export')
    const client = await daemonClient(values['data-dir'])
    if (values.export != null) {
      const text = await client.exportReceipts(values.export)
      if (values.out != null) await writeFile(values.out, text)
      else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
      return 0
    }
    const l = await client.ledger()
    if (values.json) {
      printJson(l)
      return 0
    }
    console.log(`peer ${l.peerId}`)
    console.log(
      `balance ${l.balance} credits (earned ${l.earned}, spent ${l.spent}; credit limit ${l.creditLimit})`,
    )
    console.log(
      `receipts: ${l.receipts.stored} stored, ${l.receipts.published} published, ${l.receipts.rejected} rejected`,
    )
    if (l.earnings.length > 0) {
      console.log('\nearnings')
      console.log(
        table(
          ['HOUR (UTC)', 'TASKS', 'CREDITS'],
          l.earnings.map((e) => [e.hour, String(e.tasks), String(e.credits)]),
        ),
      )
    }
    if (l.peers.length > 0) {
      console.log('\npeers by reputation')
      console.log(
        table(
          ['PEER', 'SCORE', 'ACCEPTED', 'REJECTED', 'TIMED OUT', 'SUBMITTERS', 'BALANCE'],
          l.peers.map((p) => [
            p.peerId,
            p.score.toFixed(3),
            String(p.accepted),
            String(p.rejected),
            String(p.timedOut),
            String(p.submitters),
            String(p.balance),
          ]),
        ),
      )
    }
    return 0
  },
}
