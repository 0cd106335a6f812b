// Type-checks every ```ts block of the README against the sources, so the examples a newcomer
// copies compile. Each block becomes a module of its own; names a block uses without defining
// (an app's own functions, a pg client) are declared in readme-globals.d.ts below.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, '.readme-check');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
rmSync(work, { recursive: true, force: true });
mkdirSync(work);

const globals = `// What README examples assume the reader's app already has.
declare const notifier: import('pgnotifier').Notifier;
declare const client: import('pg').Client;
declare const OrderSchema: { parse(value: unknown): { id: number; state: string } };
declare function reloadCache(): void;
declare function loadPendingJobs(): Promise<{ id: number }[]>;
declare function handleJobs(jobs: { id: number }[]): void;
declare const debounceTime: typeof import('rxjs').debounceTime;
declare const merge: typeof import('rxjs').merge;
declare const of: typeof import('rxjs').of;
declare const from: typeof import('rxjs').from;
declare const switchMap: typeof import('rxjs').switchMap;
declare const notifyQuery: typeof import('pgnotifier').notifyQuery;
`;
writeFileSync(join(work, 'readme-globals.d.ts'), globals);
const files = blocks.map((code, index) => {
  const file = `block-${index + 1}.ts`;
  // export {} makes every block a module: its names stay its own, and top-level await works.
  writeFileSync(join(work, file), `${code}\nexport {};\n`);
  return file;
});
writeFileSync(
  join(work, 'tsconfig.json'),
  JSON.stringify({
    extends: '../tsconfig.json',
    compilerOptions: { noEmit: true, types: ['node'] },
    include: [],
    files: ['readme-globals.d.ts', ...files],
  }),
);
try {
  execFileSync(process.execPath, [tsc, '-p', work], { stdio: 'inherit' });
  console.log(`README: ${blocks.length} TypeScript examples type-check`);
  rmSync(work, { recursive: true, force: true });
} catch {
  console.error(`README: an example does not type-check (the files are in ${work})`);
  process.exit(1);
}
