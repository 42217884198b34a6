/**
 * CPU-profiles the main thread of a benchmark phase: `const stop = await startProfile(file)` …
 * `await stop?.()` writes a V8 .cpuprofile (read it with scripts/cpuprofile.mjs). Benchmarks pass
 * the file named by `PLUSONE_BENCH_PROFILE`; without one nothing is profiled.
 */
import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'

export async function startProfile(to: string | undefined): Promise<(() => Promise<void>) | undefined> {
  if (to == null || to === '') return undefined
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  return async () => {
    const { profile } = await session.post('Profiler.stop')
    await writeFile(to, JSON.stringify(profile))
    session.disconnect()
  }
}
