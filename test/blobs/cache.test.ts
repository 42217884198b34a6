/**
 * The executor's blob cache (issue 11, "disk and memory bounded"): a size limit with least
 * recently used out, pins for running tasks, inputs and outputs collected, leftovers collected
 * after a restart, and the node's own blobs never touched.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { BlobCache, BlobStore, blobCidOf, type CachedKind, type OutputHold } from '../../src/blobs/index.js'
import { openStore, type Store } from '../../src/store/index.js'
import { tempDir } from './helpers.js'

const KIB = 1024

async function listed(store: BlobStore): Promise<Set<string>> {
  const out = new Set<string>()
  for await (const name of store.list()) out.add(name)
  return out
}

interface Fixture {
  store: BlobStore
  db: Store
  owned: Set<string>
  cache: (maxBytes: number) => BlobCache
  /** A blob as the executor records it: pinned and recorded, stored, unpinned. */
  fetched: (cache: BlobCache, kind: CachedKind, bytes?: Uint8Array, hold?: OutputHold) => Promise<string>
}

async function fixture(dir: string): Promise<Fixture & AsyncDisposable> {
  const store = await BlobStore.open({ dataDir: dir })
  const db = await openStore(join(dir, 'db'))
  const owned = new Set<string>()
  const market = db.sublevel('market')
  return {
    store,
    db,
    owned,
    cache: (maxBytes) => new BlobCache({ store, db: market, owned: (c) => owned.has(c) }, { maxBytes }),
    fetched: async (cache, kind, bytes = randomBytes(10 * KIB), hold) => {
      const cid = blobCidOf(bytes).toString()
      await cache.pin(cid, kind, hold)
      await store.put(bytes)
      await cache.stored(cid, bytes.byteLength)
      await cache.unpin(cid)
      return cid
    },
    [Symbol.asyncDispose]: async () => db.close(),
  }
}

describe('the blob cache of an executor', () => {
  it('keeps at most its size of others’ blobs, least recently used out', async () => {
    await using dir = await tempDir()
    await using f = await fixture(dir.path)
    const cache = f.cache(35 * KIB)
    await cache.load()
    const a = await f.fetched(cache, 'module')
    const b = await f.fetched(cache, 'module')
    const c = await f.fetched(cache, 'module')
    // a used again: b is now the least recently used
    await cache.pin(a, 'module')
    await cache.unpin(a)
    const d = await f.fetched(cache, 'module')
    const on = await listed(f.store)
    assert.ok(cache.bytes <= 35 * KIB, `${cache.bytes} bytes cached`)
    assert.deepEqual(
      [a, b, c, d].map((x) => on.has(x)),
      [true, false, true, true],
    )
  })

  it('never evicts a blob a running task is using', async () => {
    await using dir = await tempDir()
    await using f = await fixture(dir.path)
    const cache = f.cache(15 * KIB)
    await cache.load()
    const bytes = randomBytes(10 * KIB)
    const running = blobCidOf(bytes).toString()
    await cache.pin(running, 'module')
    await f.store.put(bytes)
    await cache.stored(running, bytes.byteLength)
    // still pinned: a second blob overflows the cache, and only it can go
    const other = await f.fetched(cache, 'module')
    const on = await listed(f.store)
    assert.ok(on.has(running), 'the running task’s module stays')
    assert.ok(!on.has(other), 'the unpinned one went')
  })

  it('collects a finished run’s input, and an output once settled or past its task’s expiry', async () => {
    await using dir = await tempDir()
    await using f = await fixture(dir.path)
    const cache = f.cache(1024 * KIB)
    await cache.load()
    const input = await f.fetched(cache, 'input')
    await cache.finishedInput(input)
    assert.ok(!(await listed(f.store)).has(input), 'the input went when the run ended')
    const outputs: string[] = []
    for (const [taskId, until] of [
      ['settled-task', Date.now() + 60_000],
      ['expired-task', Date.now() - 1],
      ['waiting-task', Date.now() + 60_000],
    ] as const) {
      outputs.push(await f.fetched(cache, 'output', randomBytes(KIB), { taskId, submitter: 'S', until }))
    }
    await cache.collect((taskId) => taskId === 'settled-task')
    const on = await listed(f.store)
    assert.deepEqual(
      outputs.map((o) => on.has(o)),
      [false, false, true],
      'settled and expired outputs collected; the one waiting for its receipt kept',
    )
    await cache.release('waiting-task')
    assert.ok(!(await listed(f.store)).has(outputs[2]), 'an abandoned task’s output goes')
    assert.equal(cache.bytes, 0)
  })

  it('keeps an output two tasks produced identically until both are settled', async () => {
    await using dir = await tempDir()
    await using f = await fixture(dir.path)
    const cache = f.cache(1024 * KIB)
    await cache.load()
    const same = randomBytes(KIB)
    const cid = blobCidOf(same).toString()
    for (const taskId of ['a', 'b'])
      await f.fetched(cache, 'output', same, { taskId, submitter: 'S', until: Date.now() + 60_000 })
    await cache.collect((taskId) => taskId === 'a')
    assert.ok((await listed(f.store)).has(cid), 'task b’s submitter may still fetch it')
    await cache.collect(() => true)
    assert.ok(!(await listed(f.store)).has(cid), 'gone once both are settled')
  })

  it('never deletes a blob the node owns (its own jobs)', async () => {
    await using dir = await tempDir()
    await using f = await fixture(dir.path)
    const cache = f.cache(5 * KIB)
    await cache.load()
    const bytes = randomBytes(10 * KIB)
    const mine = blobCidOf(bytes).toString()
    f.owned.add(mine)
    await f.fetched(cache, 'input', bytes)
    await cache.finishedInput(mine)
    assert.ok((await listed(f.store)).has(mine), 'an owned blob stays on disk')
    assert.ok(!cache.holds(mine), 'but the cache forgets it')
  })

  it('after a restart (or a kill -9) collects inputs and unknown leftovers, keeps outputs and owned blobs', async () => {
    await using dir = await tempDir()
    const output = randomBytes(KIB)
    const outputCid = blobCidOf(output).toString()
    const mine = randomBytes(KIB)
    const mineCid = blobCidOf(mine).toString()
    let input: string
    let module: string
    let leftover: string
    let midFetch: string
    {
      await using f = await fixture(dir.path)
      const cache = f.cache(1024 * KIB)
      await cache.load()
      module = await f.fetched(cache, 'module')
      // a run in progress when the process died: its input pinned and on disk
      const inputBytes = randomBytes(KIB)
      input = blobCidOf(inputBytes).toString()
      await cache.pin(input, 'input')
      await f.store.put(inputBytes)
      // recorded before a fetch that never finished: nothing on disk yet
      midFetch = blobCidOf(randomBytes(KIB)).toString()
      await cache.pin(midFetch, 'input')
      await cache.pin(outputCid, 'output', { taskId: 't', submitter: 'S', until: Date.now() + 60_000 })
      await f.store.put(output)
      await cache.stored(outputCid, output.byteLength)
      // a blob from before the cache existed, and one of the node's own jobs
      leftover = (await f.store.put(randomBytes(KIB))).toString()
      await f.store.put(mine)
    }
    await using f = await fixture(dir.path)
    f.owned.add(mineCid)
    const cache = f.cache(1024 * KIB)
    await cache.load()
    const on = await listed(f.store)
    assert.ok(!on.has(input), 'the interrupted run’s input is collected')
    assert.ok(!cache.holds(midFetch), 'the interrupted fetch is forgotten')
    assert.ok(!on.has(leftover), 'a blob nobody claims is collected')
    assert.ok(on.has(module), 'a cached module stays (least recently used rules apply)')
    assert.ok(on.has(outputCid), 'an output waiting for its settlement stays')
    assert.ok(on.has(mineCid), 'the node’s own blob stays')
    assert.deepEqual(
      cache.awaiting().map((a) => a.taskId),
      ['t'],
    )
  })
})
