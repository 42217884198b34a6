import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { parse } from 'yaml'
import { ledgerRoutes } from '../../src/api/ledger-routes.js'
import { marketRoutes } from '../../src/api/market-routes.js'
import { nodeRoutes } from '../../src/api/routes.js'
import type { Route } from '../../src/api/server.js'

const API_YAML = new URL('../../../docs/api.yaml', import.meta.url)

/** Every route the daemon serves, as the daemon command assembles them (handlers never run here). */
function served(): Route[] {
  const none = {} as never
  return [...nodeRoutes(none), ...marketRoutes(none), ...ledgerRoutes(none, none, 'self', 0)]
}

interface OpenApi {
  openapi: string
  paths: Record<string, Record<string, unknown>>
  components: Record<string, Record<string, unknown>>
}

describe('docs/api.yaml, the control API as documented', () => {
  it('lists every route the daemon serves, and no other', async () => {
    const doc = parse(await readFile(API_YAML, 'utf8')) as OpenApi
    assert.match(doc.openapi, /^3\.1\./)
    const documented = new Set<string>()
    for (const [path, item] of Object.entries(doc.paths))
      for (const method of Object.keys(item))
        if (['get', 'post', 'put', 'delete', 'patch'].includes(method))
          documented.add(`${method.toUpperCase()} ${path}`)
    const code = new Set(served().map((r) => `${r.method} ${r.path.replace(/:([a-zA-Z]+)/g, '{$1}')}`))
    assert.deepEqual([...documented].sort(), [...code].sort())
  })

  it('every $ref points at a component that exists', async () => {
    const text = await readFile(API_YAML, 'utf8')
    const doc = parse(text) as OpenApi
    const refs = [...text.matchAll(/\$ref: "#\/components\/(\w+)\/(\w+)"/g)]
    assert.ok(refs.length > 20)
    for (const [, kind, name] of refs)
      assert.ok(doc.components[kind]?.[name] != null, `#/components/${kind}/${name}`)
  })
})
