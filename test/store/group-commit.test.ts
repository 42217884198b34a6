import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type BatchOp, GroupCommit, openStore, type Store, type Sublevel } from '../../src/store/index.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array | undefined): string | undefined =>
  b == null ? undefined : new TextDecoder().decode(b)

describe('group commit', () => {
  let dir: string
  let store: Store
  let db: Sublevel
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'plusone-group-commit-'))
    store = await openStore(join(dir, 'db'))
    db = store.sublevel('test')
  })
  after(async () => {
    await store?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('writes concurrent writers in a few batches, each resolved only once its write is stored', async () => {
    const batches: number[] = []
    const counting = {
      batch: async (ops: BatchOp[]) => {
        batches.push(ops.length)
        await db.batch(ops)
      },
    }
    const commit = new GroupCommit(counting)
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        await commit.write({ type: 'put', key: `k${i}`, value: bytes(`v${i}`) })
        assert.equal(text(await db.get(`k${i}`)), `v${i}`, 'stored by the time the writer resumes')
      }),
    )
    assert.equal(
      batches.reduce((a, b) => a + b, 0),
      100,
    )
    assert.ok(batches.length <= 3, `100 concurrent writes took ${batches.length} batches`)
  })

  it('keeps the order of writes to one key', async () => {
    const commit = new GroupCommit(db)
    await Promise.all([
      commit.write({ type: 'put', key: 'same', value: bytes('first') }),
      commit.write({ type: 'put', key: 'same', value: bytes('second') }),
      commit.write({ type: 'del', key: 'gone' }),
    ])
    assert.equal(text(await db.get('same')), 'second')
  })

  it('rejects the writers of a failed batch and keeps serving later ones', async () => {
    let fail = true
    const flaky = {
      batch: async (ops: BatchOp[]) => {
        if (fail) throw new Error('disk full')
        await db.batch(ops)
      },
    }
    const commit = new GroupCommit(flaky)
    await assert.rejects(commit.write({ type: 'put', key: 'x', value: bytes('1') }), /disk full/)
    fail = false
    await commit.write({ type: 'put', key: 'x', value: bytes('2') })
    assert.equal(text(await db.get('x')), '2')
  })
})
