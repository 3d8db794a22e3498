// Builds the web dashboard (src/ui/) into dist/ui/: one bundled, minified app.js (Preact,
// htm, qrcode and the dashboard's own modules), app.css and index.html. Run by `npm run build`.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// A checkout whose node_modules predate the dashboard's packages: say so, leave the rest of the build alone.
const missing = ['esbuild', 'preact', 'htm', 'qrcode'].filter((m) => {
  try {
    createRequire(join(root, 'package.json')).resolve(m);
    return false;
  } catch {
    return true;
  }
});
if (missing.length > 0) {
  console.error(`wgfabric: the web dashboard is NOT built: missing npm packages ${missing.join(', ')} (run npm install)`);
  process.exit(0);
}
const { build } = await import('esbuild');
const out = join(root, 'dist', 'ui');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'src/ui/main.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome120', 'firefox128', 'safari17'],
  minify: true,
  sourcemap: false,
  legalComments: 'eof',
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) copyFileSync(join(root, 'src/ui', f), join(out, f));
