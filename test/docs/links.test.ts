import assert from 'node:assert/strict'
import { readFile, stat } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const DOCS = ['README.md', 'docs/ARCHITECTURE.md', 'examples/README.md']

describe('the README and docs', () => {
  it('link only to files inside the repository, and every one exists', async () => {
    for (const doc of DOCS) {
      const text = await readFile(join(ROOT, doc), 'utf8')
      const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1])
      for (const link of links) {
        assert.doesNotMatch(link, /^[a-z]+:/i, `${doc} links outside the repository: ${link}`)
        const target = resolve(dirname(join(ROOT, doc)), link.split('#')[0])
        assert.ok(!relative(ROOT, target).startsWith('..'), `${doc} links outside the repository: ${link}`)
        await stat(target).catch(() => assert.fail(`${doc} links to ${link}, which does not exist`))
      }
    }
  })

  it('the README links the architecture and the API description', async () => {
    const text = await readFile(join(ROOT, 'README.md'), 'utf8')
    assert.match(text, /\]\(docs\/ARCHITECTURE\.md\)/)
    assert.match(text, /\]\(docs\/api\.yaml\)/)
  })
})
