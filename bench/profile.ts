import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

/**
 * CPU profiles of phases of a bench, taken in this process (where the bench runs the server)
 * when WGF_BENCH_PROFILE names a directory: `phase(name, fn)` writes <dir>/<name>.cpuprofile
 * (open it in Chrome DevTools or summarise it). Without the variable it only runs fn.
 */
export async function profiled<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const dir = process.env.WGF_BENCH_PROFILE;
  if (!dir) return fn();
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.setSamplingInterval', { interval: 500 });
  await s.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await s.post('Profiler.stop');
    await writeFile(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    s.disconnect();
  }
}
