// Builds the task examples into examples/build/ (run by `npm install` through prepare → build):
//   examples/assembly/*.ts  -> examples/build/<name>.wasm       (AssemblyScript, asc -O3)
//   examples/wat/*.wat      -> examples/build/wat/<name>.wasm   (the test corpus, wabt)
// Needs nothing beyond the npm devDependencies. The corpus enables every feature wabt knows,
// because half of it exists to prove that plusone rejects those features.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'examples', 'build')
const require = createRequire(import.meta.url)
mkdirSync(join(out, 'wat'), { recursive: true })

const wabt = await require('wabt')()
const features = {
  exceptions: true,
  mutable_globals: true,
  sat_float_to_int: true,
  sign_extension: true,
  simd: true,
  threads: true,
  multi_value: true,
  tail_call: true,
  bulk_memory: true,
  reference_types: true,
  memory64: true,
  multi_memory: true,
  extended_const: true,
}
const watDir = join(root, 'examples', 'wat')
let wats = 0
for (const file of readdirSync(watDir)
  .filter((f) => f.endsWith('.wat'))
  .sort()) {
  const mod = wabt.parseWat(file, readFileSync(join(watDir, file), 'utf8'), features)
  try {
    mod.resolveNames()
    mod.validate(features)
    writeFileSync(join(out, 'wat', `${basename(file, '.wat')}.wasm`), mod.toBinary({}).buffer)
    wats++
  } finally {
    mod.destroy()
  }
}

const asDir = join(root, 'examples', 'assembly')
// asc's API in this process: one compiler load instead of one node process per task.
const { default: asc } = await import('assemblyscript/asc')
const sources = readdirSync(asDir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .sort()
for (const file of sources) {
  const name = basename(file, '.ts')
  const args = [
    join(asDir, file),
    '-O3',
    '--runtime',
    'stub',
    '--noAssert',
    '--outFile',
    join(out, `${name}.wasm`),
  ]
  const { error, stderr } = await asc.main(args)
  if (error) {
    console.error(stderr.toString())
    throw new Error(`examples: asc failed on ${file}: ${error.message}`)
  }
}
console.log(
  `examples: built ${sources.length} AssemblyScript tasks and ${wats} .wat corpus modules into examples/build/`,
)
