// Runs every compiled test file (dist/test/**/*.test.js) with node's built-in test runner.
// Listing the files explicitly keeps helpers such as test/mesh.ts from being run as tests.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

function find(dir) {
  const out = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...find(p))
    else if (entry.name.endsWith('.test.js')) out.push(p)
  }
  return out
}

const only = process.argv.slice(2)
const files = find('dist/test')
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
if (files.length === 0) {
  console.error('no test files found under dist/test (run npm run build first)')
  process.exit(1)
}
const res = spawnSync(
  process.execPath,
  ['--import', './dist/src/polyfill.js', '--test', '--test-concurrency=2', '--test-timeout=300000', ...files],
  { stdio: 'inherit' },
)
process.exit(res.status ?? 1)
