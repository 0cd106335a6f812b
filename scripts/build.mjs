// Builds the package: dist/esm (ES modules, the sources' own format) and dist/cjs (CommonJS for
// `require` consumers), each with its declarations. dist/cjs gets a package.json saying so, since
// the package itself is `"type": "module"`.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const dist = join(root, 'dist');

rmSync(dist, { recursive: true, force: true });
for (const project of ['tsconfig.build.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', join(root, project)], { stdio: ['ignore', 2, 2] });
}
writeFileSync(join(dist, 'cjs', 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);

const cli = join(dist, 'esm', 'cli', 'main.js');
if (existsSync(cli)) chmodSync(cli, 0o755);
// stderr: npm pack runs this as prepack and reads its own stdout.
console.error('built dist/esm and dist/cjs');
