// Bundles the dashboard (web/) into dist/web: type-checks it, bundles web/src/main.ts with
// esbuild into one file and copies the page and its style sheet. Nothing is loaded from a CDN:
// the daemon serves exactly these files.
import { spawnSync } from 'node:child_process'
import { copyFile, mkdir } from 'node:fs/promises'
import { build } from 'esbuild'

const check = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'web/tsconfig.json'], {
  stdio: 'inherit',
})
if (check.status !== 0) process.exit(check.status ?? 1)
await mkdir('dist/web', { recursive: true })
await build({
  entryPoints: ['web/src/main.ts'],
  outfile: 'dist/web/app.js',
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
})
await copyFile('web/index.html', 'dist/web/index.html')
await copyFile('web/style.css', 'dist/web/style.css')
