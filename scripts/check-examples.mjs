// Type-checks every ```ts example against the sources, so what a newcomer copies compiles: the
// README's blocks and the `@example` blocks of the TSDoc in src/. Each block becomes a module of
// its own; names a block uses without defining (an app's own functions, a pg client, RxJS
// operators) are declared in examples-globals.d.ts below.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, '.examples-check');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

const fence = /^```ts\n([\s\S]*?)^```$/gm;
/** @type {{ name: string; code: string }[]} */
const blocks = [];
for (const [index, match] of [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(fence)].entries()) {
  blocks.push({ name: `readme-${index + 1}`, code: match[1] });
}
for (const file of readdirSync(join(root, 'src'), { recursive: true })) {
  if (!String(file).endsWith('.ts')) continue;
  const source = readFileSync(join(root, 'src', String(file)), 'utf8');
  for (const [index, comment] of [...source.matchAll(/\/\*\*([\s\S]*?)\*\//g)].entries()) {
    const text = comment[1].replace(/^[ \t]*\* ?/gm, '');
    for (const [n, match] of [...text.matchAll(fence)].entries()) {
      blocks.push({ name: `${String(file).replace(/[/.]/g, '-')}-${index}-${n}`, code: match[1] });
    }
  }
}
rmSync(work, { recursive: true, force: true });
mkdirSync(work);

const globals = `// What README examples assume the reader's app already has.
declare const notifier: import('pgnotifier').Notifier;
declare const client: import('pg').Client;
declare const OrderSchema: { parse(value: unknown): { id: number; state: string } };
declare const db: { query(sql: string): Promise<unknown[]> };
declare const log: { warn(...values: unknown[]): void };
declare const http: typeof import('node:http');
declare function sendMail(payload: unknown): Promise<void>;
declare const SubscriberError: typeof import('pgnotifier').SubscriberError;
declare const filter: typeof import('rxjs').filter;
declare const map: typeof import('rxjs').map;
declare const bufferTime: typeof import('rxjs').bufferTime;
declare const startWith: typeof import('rxjs').startWith;
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
writeFileSync(join(work, 'examples-globals.d.ts'), globals);
const files = blocks.map(({ name, code }) => {
  const file = `${name}.ts`;
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
    files: ['examples-globals.d.ts', ...files],
  }),
);
try {
  execFileSync(process.execPath, [tsc, '-p', work], { stdio: 'inherit' });
  console.log(`${blocks.length} TypeScript examples (README and TSDoc) type-check`);
  rmSync(work, { recursive: true, force: true });
} catch {
  console.error(`An example does not type-check (the files are in ${work})`);
  process.exit(1);
}
