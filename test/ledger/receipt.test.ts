import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import {
  ForgedSubmitterError,
  InvalidSignatureError,
  MalformedReceiptError,
  MAX_SIGNED_RECEIPT_BYTES,
  OversizeReceiptError,
  receiptAmount,
  receiptId,
  signReceipt,
  verifyReceipt,
} from '../../src/ledger/index.js'
import {
  draft,
  peers,
  Receipt,
  rawReceipt,
  SignedReceipt,
  signRaw,
  type TestPeer,
  Verdict,
} from './helpers.js'

const byName = (name: string) => (err: Error) => err.name === name

describe('receipts', () => {
  let submitter: TestPeer
  let executor: TestPeer
  let mallory: TestPeer
  before(async () => {
    ;[submitter, executor, mallory] = await peers(3)
  })

  it('a signed receipt verifies and carries the computed amount', async () => {
    const bytes = await signReceipt(submitter.key, draft(executor.id))
    const r = await verifyReceipt(bytes)
    assert.equal(r.info.submitter, submitter.id)
    assert.equal(r.info.executor, executor.id)
    assert.equal(r.info.amount, 3_000n, '1500 µcredits/Gfuel × 2 Gfuel')
    assert.equal(r.id, receiptId(submitter.id, 'bafytask1', executor.id))
  })

  it('round-trips fuel in [2^31, 2^32) and above, and refuses amounts that do not fit the wire', async () => {
    for (const fuelUsed of [2_147_483_648n, 3_000_000_000n, 4_294_967_295n, 2n ** 40n]) {
      const r = await verifyReceipt(await signReceipt(submitter.key, draft(executor.id, { fuelUsed })))
      assert.equal(r.info.fuelUsed, fuelUsed)
    }
    await assert.rejects(
      signReceipt(submitter.key, draft(executor.id, { fuelUsed: 2n ** 53n })),
      MalformedReceiptError,
    )
  })

  it('pays nothing for rejected or timed-out executors and rounds down', () => {
    assert.equal(receiptAmount('rejected', 100n, 5_000_000_000n), 0n)
    assert.equal(receiptAmount('timed_out', 100n, 5_000_000_000n), 0n)
    assert.equal(receiptAmount('accepted', 3n, 999_999_999n), 2n)
  })

  it('the receipt id depends on submitter, task and executor only', () => {
    const a = receiptId('s', 't', 'e')
    assert.equal(a, receiptId('s', 't', 'e'))
    assert.notEqual(a, receiptId('s2', 't', 'e'))
    assert.notEqual(receiptId('s', 'te', ''), receiptId('s', 't', 'e'), 'fields are length-prefixed')
  })

  it('rejects a receipt whose signature was tampered with as InvalidSignatureError', async () => {
    const signed = SignedReceipt.decode(await signReceipt(submitter.key, draft(executor.id)))
    signed.signature[0] ^= 1
    await assert.rejects(verifyReceipt(SignedReceipt.encode(signed)), InvalidSignatureError)
  })

  it('rejects a receipt whose content was changed after signing as InvalidSignatureError', async () => {
    const signed = SignedReceipt.decode(await signReceipt(submitter.key, draft(executor.id)))
    const r = Receipt.decode(signed.receipt)
    signed.receipt = Receipt.encode({ ...r, executor: rawReceipt(submitter, mallory).executor })
    await assert.rejects(verifyReceipt(SignedReceipt.encode(signed)), byName('InvalidSignatureError'))
  })

  it('rejects a receipt that names another submitter than its signer as ForgedSubmitterError', async () => {
    // Mallory tries to make the submitter pay her: she names the submitter and signs herself.
    const forged = await signRaw(mallory, Receipt.encode(rawReceipt(submitter, mallory)))
    await assert.rejects(verifyReceipt(forged), (err: Error) => {
      assert.equal(err.name, ForgedSubmitterError.name)
      assert.match(err.message, /only the submitter may sign/)
      return true
    })
  })

  it('refuses an oversize receipt before decoding it', async () => {
    const big = new Uint8Array(MAX_SIGNED_RECEIPT_BYTES + 1)
    await assert.rejects(verifyReceipt(big), OversizeReceiptError)
  })

  it('rejects garbage, wrong amounts, unknown verdicts and non-canonical encodings as MalformedReceiptError', async () => {
    await assert.rejects(verifyReceipt(new Uint8Array([0xff, 0xff, 0xff])), MalformedReceiptError)
    const cases: Array<[string, Uint8Array]> = [
      ['amount', Receipt.encode(rawReceipt(submitter, executor, { amount: 11 }))],
      ['amount', Receipt.encode(rawReceipt(submitter, executor, { verdict: Verdict.REJECTED }))],
      [
        'unknown verdict',
        Receipt.encode(rawReceipt(submitter, executor, { verdict: Verdict.VERDICT_UNSPECIFIED })),
      ],
      ['version', Receipt.encode(rawReceipt(submitter, executor, { version: 2 }))],
      ['task id', Receipt.encode(rawReceipt(submitter, executor, { taskId: '' }))],
      ['task id', Receipt.encode(rawReceipt(submitter, executor, { taskId: 'x'.repeat(201) }))],
      ['executor', Receipt.encode(rawReceipt(submitter, executor, { executor: new Uint8Array([1, 2, 3]) }))],
      ['canonically', Uint8Array.from([...Receipt.encode(rawReceipt(submitter, executor)), 0x08, 0x01])],
    ]
    for (const [what, receipt] of cases) {
      await assert.rejects(verifyReceipt(await signRaw(submitter, receipt)), (err: Error) => {
        assert.equal(err.name, MalformedReceiptError.name)
        assert.ok(err.message.includes(what), `${err.message} should be about ${what}`)
        return true
      })
    }
  })
})
