// Generates TypeScript codecs in src/pb/ from every protocols/*.proto with protons.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

const protos = readdirSync('protocols')
  .filter((f) => f.endsWith('.proto'))
  .map((f) => join('protocols', f))
mkdirSync('src/pb', { recursive: true })
if (protos.length > 0) {
  execFileSync(join('node_modules', '.bin', 'protons'), ['--strict', '-o', 'src/pb', ...protos], {
    stdio: 'inherit',
  })
}
console.log(`protons: ${protos.length} protocol file(s) -> src/pb/`)
