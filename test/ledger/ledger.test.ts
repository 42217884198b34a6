import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import fc from 'fast-check'
import {
  CSV_COLUMNS,
  type ExportedReceipt,
  InvalidSignatureError,
  Ledger,
  LedgerSchemaError,
  MemoryLedgerStore,
  type ReceiptVerdict,
  signReceipt,
  verifyReceipt,
} from '../../src/ledger/index.js'
import { draft, peers, SignedReceipt, type TestPeer } from './helpers.js'

const open = (store = new MemoryLedgerStore()) => Ledger.open({ store })

describe('Ledger', () => {
  let p: TestPeer[]
  before(async () => {
    p = await peers(8)
  })

  it('counts a good receipt once and ignores duplicates', async () => {
    const ledger = await open()
    const bytes = await signReceipt(p[0].key, draft(p[1].id))
    assert.equal((await ledger.add(bytes)).outcome, 'added')
    assert.equal((await ledger.add(bytes)).outcome, 'duplicate')
    assert.deepEqual(ledger.account(p[1].id), { peer: p[1].id, earned: 3000n, spent: 0n, balance: 3000n })
    assert.equal(ledger.account(p[0].id).balance, -3000n)
  })

  it('counts a receipt once even when it arrives twice at the same moment', async () => {
    const ledger = await open()
    const bytes = await signReceipt(p[0].key, draft(p[1].id))
    const outcomes = await Promise.all([ledger.add(bytes), ledger.add(bytes), ledger.add(bytes)])
    assert.deepEqual(outcomes.map((o) => o.outcome).sort(), ['added', 'duplicate', 'duplicate'])
    assert.equal(ledger.account(p[1].id).earned, 3000n)
  })

  it('stores nothing from a receipt that fails verification', async () => {
    const store = new MemoryLedgerStore()
    const ledger = await open(store)
    const signed = SignedReceipt.decode(await signReceipt(p[0].key, draft(p[1].id)))
    signed.signature[5] ^= 0x80
    await assert.rejects(ledger.add(SignedReceipt.encode(signed)), InvalidSignatureError)
    assert.equal(store.size, 1, 'only the schema version')
    assert.equal(ledger.accounts().length, 0)
  })

  it('pays one submitter-task-executor once: a second, different receipt cannot pay twice or take back pay', async () => {
    const paid = await signReceipt(p[0].key, draft(p[1].id, { verdict: 'accepted' }))
    const retracted = await signReceipt(p[0].key, draft(p[1].id, { verdict: 'rejected', sequence: 2 }))
    const more = await signReceipt(p[0].key, draft(p[1].id, { fuelUsed: 4_000_000_000n, sequence: 3 }))
    for (const order of [
      [paid, retracted, more],
      [more, retracted, paid],
      [retracted, paid, more],
    ]) {
      const ledger = await open()
      for (const r of order) await ledger.add(r)
      assert.equal(ledger.account(p[1].id).earned, 6000n, 'the better receipt for the executor wins, once')
      assert.equal(ledger.totalBalance(), 0n)
      assert.equal(ledger.equivocators().get(p[0].id), 2)
      assert.equal(ledger.reputation(p[1].id).accepted, 1)
    }
  })

  it('keeps receipts of different submitters for one task id apart', async () => {
    const ledger = await open()
    await ledger.add(await signReceipt(p[0].key, draft(p[2].id)))
    const other = await ledger.add(await signReceipt(p[1].key, draft(p[2].id, { verdict: 'rejected' })))
    assert.equal(other.outcome, 'added')
    assert.equal(ledger.account(p[2].id).earned, 3000n)
  })

  it('balances sum to zero across the mesh and do not depend on arrival order', async () => {
    const arbReceipt = fc.record({
      submitter: fc.nat({ max: 7 }),
      executor: fc.nat({ max: 7 }),
      task: fc.nat({ max: 5 }),
      verdict: fc.constantFrom<ReceiptVerdict>('accepted', 'rejected', 'timed_out'),
      fuel: fc.bigInt({ min: 0n, max: 10n ** 13n }),
      price: fc.bigInt({ min: 0n, max: 10n ** 6n }),
    })
    await fc.assert(
      fc.asyncProperty(fc.array(arbReceipt, { maxLength: 12 }), fc.nat(), async (specs, seed) => {
        const signed = await Promise.all(
          specs.map((s, i) =>
            signReceipt(
              p[s.submitter].key,
              draft(p[s.executor].id, {
                taskId: `task${s.task}`,
                verdict: s.verdict,
                fuelUsed: s.fuel,
                pricePerGfuel: s.price,
                sequence: i,
              }),
            ),
          ),
        )
        const a = await open()
        for (const r of signed) await a.add(r)
        const b = await open()
        const shuffled = signed
          .map((r, i) => ({ r, k: (i * 7919 + seed) % 104729 }))
          .sort((x, y) => x.k - y.k)
        for (const { r } of shuffled) await b.add(r)
        assert.equal(a.totalBalance(), 0n)
        assert.equal(
          a.accounts().reduce((sum, acc) => sum + acc.balance, 0n),
          0n,
        )
        assert.deepEqual(b.accounts(), a.accounts())
        assert.deepEqual(b.reputations(), a.reputations())
      }),
      { numRuns: 100 },
    )
  })

  it('reputation falls for executors whose results are rejected or time out', async () => {
    const ledger = await open()
    for (let s = 0; s < 4; s++) {
      await ledger.add(await signReceipt(p[s].key, draft(p[5].id, { taskId: `t${s}` })))
      await ledger.add(await signReceipt(p[s].key, draft(p[6].id, { taskId: `t${s}`, verdict: 'rejected' })))
      await ledger.add(await signReceipt(p[s].key, draft(p[7].id, { taskId: `t${s}`, verdict: 'timed_out' })))
    }
    const [honest, liar, absent] = [5, 6, 7].map((i) => ledger.reputation(p[i].id))
    assert.ok(
      honest.score > 0.5 && liar.score < 0.5 && absent.score < 0.5,
      JSON.stringify([honest, liar, absent]),
    )
    assert.equal(liar.rejected, 4)
    assert.equal(absent.timedOut, 4)
    assert.deepEqual(ledger.reputations().map((r) => r.peer)[0], p[5].id)
  })

  it('one submitter cannot pump a friend above a peer vouched for by several submitters', async () => {
    const ledger = await open()
    for (let t = 0; t < 30; t++)
      await ledger.add(await signReceipt(p[0].key, draft(p[1].id, { taskId: `f${t}` })))
    for (let s = 2; s < 6; s++)
      await ledger.add(await signReceipt(p[s].key, draft(p[7].id, { taskId: `h${s}` })))
    const friend = ledger.reputation(p[1].id)
    assert.ok(friend.score <= 2 / 3, `${friend.score}`)
    assert.ok(ledger.reputation(p[7].id).score > friend.score)
  })

  it('applies the credit limit to submitters', async () => {
    const ledger = await open()
    await ledger.add(await signReceipt(p[0].key, draft(p[1].id)))
    assert.equal(ledger.canAfford(p[0].id, 5000n), true)
    assert.equal(ledger.canAfford(p[0].id, 5000n, 2001n), false)
    assert.equal(ledger.canAfford(p[0].id, 2999n), false)
    assert.equal(ledger.canAfford(p[1].id, 0n, 3000n), true)
  })

  it('rebuilds the same balances and reputation when reopened over the same store', async () => {
    const store = new MemoryLedgerStore()
    const first = await open(store)
    await first.add(await signReceipt(p[0].key, draft(p[1].id)))
    await first.add(await signReceipt(p[0].key, draft(p[2].id, { verdict: 'rejected' })))
    await first.add(await signReceipt(p[0].key, draft(p[2].id, { verdict: 'accepted', sequence: 9 })))
    const again = await open(store)
    assert.deepEqual(again.accounts(), first.accounts())
    assert.deepEqual(again.reputations(), first.reputations())
    assert.deepEqual([...again.equivocators()], [...first.equivocators()])
  })

  it('refuses a store written with another schema version', async () => {
    const store = new MemoryLedgerStore()
    await store.put('schema', new TextEncoder().encode('99'))
    await assert.rejects(open(store), (err: Error) => {
      assert.equal(err.name, LedgerSchemaError.name)
      assert.match(err.message, /schema version 99.*understands version 1/)
      return true
    })
  })

  it('exports receipts as CSV with safe fields and as JSON that anyone can re-verify', async () => {
    const ledger = await open()
    await ledger.add(
      await signReceipt(p[0].key, draft(p[1].id, { jobId: '=HYPERLINK("x"),1', timestampMs: 2 })),
    )
    await ledger.add(await signReceipt(p[0].key, draft(p[2].id, { taskId: 't2', timestampMs: 1 })))
    const csv = await ledger.exportReceipts('csv')
    const lines = csv.trimEnd().split('\r\n')
    assert.equal(lines[0], CSV_COLUMNS.join(','))
    assert.equal(lines.length, 3)
    assert.ok(lines[1].includes(p[2].id), 'oldest first')
    assert.ok(lines[2].includes(`"'=HYPERLINK(""x""),1"`), lines[2])
    const json = JSON.parse(await ledger.exportReceipts('json', p[1].id)) as ExportedReceipt[]
    assert.equal(json.length, 1)
    assert.equal(json[0].amount, '3000')
    const again = await verifyReceipt(Buffer.from(json[0].signed, 'base64'))
    assert.equal(again.id, json[0].id)
  })
})
