import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temp directory with stand-ins for the built dashboard's files (tests need no `npm run build`). */
export function uiFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wgf-ui-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>t</title>');
  writeFileSync(join(dir, 'app.js'), 'console.log(1)');
  writeFileSync(join(dir, 'app.css'), 'body{}');
  return dir;
}
