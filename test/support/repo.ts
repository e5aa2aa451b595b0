/** Paths inside the repository, found from wherever the compiled test runs. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this file holding package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the test');
    dir = up;
  }
  return dir;
}

/** Parses a JSON file under test/vectors/. */
export function readVector<T>(name: string): T {
  return JSON.parse(readFileSync(join(repoRoot(), 'test', 'vectors', name), 'utf8')) as T;
}
