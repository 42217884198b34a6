/**
 * The node's one database: `level` in `<dataDir>/db`, one sublevel per concern (`market`,
 * `ledger`, ...), and a schema version key. A store written by a newer plusone (an unknown
 * version) is refused with a clear message instead of being misread.
 */
import { Level } from 'level'

/** The schema this code reads and writes. */
export const SCHEMA_VERSION = 1
const SCHEMA_KEY = 'schema-version'

export type Db = Level<string, Uint8Array>
function sublevelOf(db: Db, name: string) {
  return db.sublevel<string, Uint8Array>(name, { valueEncoding: 'view' })
}
export type Sublevel = ReturnType<typeof sublevelOf>

export class StoreSchemaError extends Error {
  static name = 'StoreSchemaError'
  constructor(message: string) {
    super(message)
    this.name = 'StoreSchemaError'
  }
}

export class StoreOpenError extends Error {
  static name = 'StoreOpenError'
  constructor(message: string) {
    super(message)
    this.name = 'StoreOpenError'
  }
}

export interface Store {
  readonly db: Db
  /** A namespace of its own for one concern; keys are strings, values bytes. */
  sublevel(name: string): Sublevel
  close(): Promise<void>
}

/** Opens (creating if needed) the database at `path` and checks its schema version. */
export async function openStore(path: string): Promise<Store> {
  const db: Db = new Level<string, Uint8Array>(path, { valueEncoding: 'view' })
  try {
    await db.open()
  } catch (err) {
    const cause = (err as { cause?: Error }).cause
    const detail = cause?.message ?? (err as Error).message
    if (/lock/i.test(detail)) {
      throw new StoreOpenError(`the database ${path} is in use by another process`)
    }
    throw new StoreOpenError(`cannot open the database ${path}: ${detail}`)
  }
  const meta = db.sublevel<string, string>('meta', { valueEncoding: 'utf8' })
  const found = await meta.get(SCHEMA_KEY)
  if (found == null) {
    await meta.put(SCHEMA_KEY, String(SCHEMA_VERSION))
  } else if (found !== String(SCHEMA_VERSION)) {
    await db.close()
    throw new StoreSchemaError(
      `the database ${path} has schema version ${found}, but this plusone reads version ${SCHEMA_VERSION}; use the plusone release that wrote it`,
    )
  }
  return {
    db,
    sublevel: (name) => sublevelOf(db, name),
    close: () => db.close(),
  }
}

/** One write of a {@link GroupCommit}. */
export type BatchOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }

/**
 * Group commit: writes issued while a batch is being written wait and go out together as the
 * next batch, so N concurrent writers cost one `batch()` call instead of N `put()`s. Every
 * caller still resolves only once its own write is in the database (journal-before-act holds),
 * and writes keep their order.
 */
export class GroupCommit {
  private queue: Array<{ ops: BatchOp[]; resolve: () => void; reject: (err: Error) => void }> = []
  private writing = false

  constructor(private readonly db: { batch(ops: BatchOp[]): Promise<void> }) {}

  /** Resolves once `ops` are written (in one batch with whatever else was waiting). */
  write(...ops: BatchOp[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, resolve, reject })
      if (!this.writing) void this.drain()
    })
  }

  private async drain(): Promise<void> {
    this.writing = true
    try {
      while (this.queue.length > 0) {
        const group = this.queue
        this.queue = []
        try {
          await this.db.batch(group.flatMap((g) => g.ops))
          for (const g of group) g.resolve()
        } catch (err) {
          for (const g of group) g.reject(err as Error)
        }
      }
    } finally {
      this.writing = false
    }
  }
}
