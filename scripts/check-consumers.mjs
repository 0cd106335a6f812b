// Packs the library as npm would publish it, then checks it the way users meet it:
//   1. the tarball holds only the build, README, LICENSE and package.json;
//   2. `import` (ESM) and `require` (CommonJS) consumers run and get working classes;
//   3. TypeScript consumers type-check with `moduleResolution` `nodenext` (an .mts and a .cts
//      file) and `bundler`, with skipLibCheck off, so nothing of pg-listen's typings leaks;
//      @types/pg is an optional peer dependency (our declarations name pg's ClientConfig), so
//      they are checked with it installed and without: without it, skipLibCheck on (tsc --init's
//      default) type-checks, and skipLibCheck off asks for it with exactly one error kind (TS7016
//      on 'pg'), as the README says;
//   4. the `pgnotifier` bin answers --version;
//   5. no @types package is a runtime dependency (it would be installed into every app).
// The JavaScript consumers live in .consumers/ inside the repository, so that the package's own
// dependencies (rxjs, pg, immutable, pg-listen) resolve from the repository's node_modules. The
// TypeScript consumers live in a temporary folder outside it, with links to exactly the packages
// an app would have, so that the repository's own @types/pg cannot be found by walking up.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, '.consumers');
const installed = join(work, 'node_modules', 'pgnotifier');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
let failures = 0;

function step(title, action) {
  try {
    const output = action();
    console.log(`ok    ${title}${output ? `: ${String(output).trim()}` : ''}`);
  } catch (error) {
    failures++;
    console.log(`FAIL  ${title}\n${error.stdout ?? ''}${error.stderr ?? ''}${error.stdout || error.stderr ? '' : error.message}`);
  }
}

function run(command, args, cwd = work) {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function write(path, text, base = work) {
  mkdirSync(dirname(join(base, path)), { recursive: true });
  writeFileSync(join(base, path), text);
}

rmSync(work, { recursive: true, force: true });
mkdirSync(installed, { recursive: true });

// 1. What npm would publish.
const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], root));
const files = packed.files.map((file) => file.path).sort();
step(`npm pack: ${files.length} files, ${(packed.size / 1024).toFixed(1)} kB`, () => {
  const stray = files.filter((path) => !/^(dist\/(esm|cjs)\/.+\.(js|d\.ts|json)|README\.md|LICENSE|package\.json)$/.test(path));
  if (stray.length > 0) throw new Error(`unexpected files in the package: ${stray.join(', ')}`);
  for (const needed of [
    'README.md',
    'LICENSE',
    'dist/esm/index.js',
    'dist/esm/index.d.ts',
    'dist/cjs/index.js',
    'dist/cjs/index.d.ts',
    'dist/cjs/package.json',
    'dist/esm/cli/main.js',
  ]) {
    if (!files.includes(needed)) throw new Error(`missing from the package: ${needed}`);
  }
});
run('tar', ['-xzf', join(work, packed.filename), '-C', installed, '--strip-components=1']);
// A type package among the dependencies is installed into every app, and @types/pg's own
// dependency on @types/node "*" then brings the newest @types/node whatever the app's Node is.
step('no @types package is a runtime dependency', () => {
  const { dependencies = {} } = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
  const types = Object.keys(dependencies).filter((name) => name.startsWith('@types/'));
  if (types.length > 0) throw new Error(`in dependencies: ${types.join(', ')} (make them optional peer dependencies)`);
});

// 2. JavaScript consumers, both module systems, on MemorySource (no server needed).
const smoke = (load) => `${load}
const source = new MemorySource();
const notifier = new Notifier(source);
const seen = [];
notifier.channel$('orders').subscribe((n) => seen.push(n.payload));
setTimeout(async () => {
  source.deliver('orders', '{"id":1}');
  let typed = false;
  try { notifier.channel$(''); } catch (error) { typed = error instanceof InvalidChannelError && error.name === 'InvalidChannelError'; }
  await notifier.close();
  if (JSON.stringify(seen) !== '[{"id":1}]' || !typed) { console.error('got', seen, typed); process.exit(1); }
  console.log('received', JSON.stringify(seen));
}, 50);
`;
write('esm.mjs', smoke(`import { Notifier, MemorySource, InvalidChannelError } from 'pgnotifier';`));
write('cjs.cjs', smoke(`const { Notifier, MemorySource, InvalidChannelError } = require('pgnotifier');`));
step('import from an ES module', () => run(process.execPath, ['esm.mjs']));
step('require from CommonJS', () => run(process.execPath, ['cjs.cjs']));
// pgnotifier/nats: both module systems; the main entry must not load the NATS client.
const nats = (load) => `${load}
if (typeof NatsSource !== 'function' || typeof relay !== 'function' || decodeSubjectToken(encodeSubjectToken('a.b *>')) !== 'a.b *>') process.exit(1);
console.log('pgnotifier/nats loaded');
`;
write('nats-esm.mjs', nats(`import { NatsSource, relay, encodeSubjectToken, decodeSubjectToken } from 'pgnotifier/nats';`));
write('nats-cjs.cjs', nats(`const { NatsSource, relay, encodeSubjectToken, decodeSubjectToken } = require('pgnotifier/nats');`));
write(
  'main-only.cjs',
  `require('pgnotifier');
const loaded = Object.keys(require.cache).filter((path) => path.includes('@nats-io'));
if (loaded.length > 0) { console.error('the main entry loaded', loaded); process.exit(1); }
console.log('no NATS module loaded');
`,
);
step('import pgnotifier/nats from an ES module', () => run(process.execPath, ['nats-esm.mjs']));
step('require pgnotifier/nats from CommonJS', () => run(process.execPath, ['nats-cjs.cjs']));
step('require pgnotifier loads no NATS module', () => run(process.execPath, ['main-only.cjs']));

// 3. TypeScript consumers, outside the repository: the package, its dependencies and peers, and
//    @types/node, linked from the repository's node_modules; @types/pg only where said.
const outside = mkdtempSync(join(tmpdir(), 'pgnotifier-consumers-'));
const modules = join(outside, 'node_modules');
mkdirSync(join(modules, '@types'), { recursive: true });
mkdirSync(join(modules, 'pgnotifier'));
run('tar', ['-xzf', join(work, packed.filename), '-C', join(modules, 'pgnotifier'), '--strip-components=1']);
const linked = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {}), '@types/node'];
for (const name of linked.filter((name) => name !== '@types/pg')) {
  // A scoped package (@nats-io/…) needs its scope folder first.
  mkdirSync(dirname(join(modules, name)), { recursive: true });
  symlinkSync(join(root, 'node_modules', name), join(modules, name), 'dir');
}

const typed = `
import { Notifier, MemorySource, notifyQuery, type Notification, type NotifierStatus } from 'pgnotifier';
import { NatsSource, type NatsSourceStatus, type Relay, type RelayOptions } from 'pgnotifier/nats';
import { map, type Observable } from 'rxjs';

const notifier = new Notifier(new MemorySource(), { parse: 'json' });
const fromNats: Notifier = new Notifier(new NatsSource({ servers: 'nats://127.0.0.1:4222' }));
const natsStatus: (source: NatsSource) => NatsSourceStatus = (source) => source.status();
const relayOptions: RelayOptions = { connection: 'postgres://localhost/app', nats: { servers: 'nats://127.0.0.1:4222' }, channels: ['orders'] };
const closeRelay = (r: Relay): Promise<void> => r.close();
const ids: Observable<number> = notifier.channel$<{ id: number }>('orders').pipe(map((n: Notification<{ id: number }>) => n.payload.id));
const status: NotifierStatus = notifier.status();
const query: { text: string; values: [string, string] } = notifyQuery('orders', { id: 1 });
// A pg config object, as apps pass one.
const configured = new Notifier({ host: 'db', port: 5432, password: async () => 'token' });
export { ids, status, query, configured, fromNats, natsStatus, relayOptions, closeRelay };
`;
// With @types/pg the config is pg's own ClientConfig, so a mistake in it is caught.
const checkedConfig = `
// @ts-expect-error port is a number in pg's ClientConfig
export const wrong = new Notifier({ port: 'five' });
`;
const strict = { strict: true, noEmit: true, skipLibCheck: false, types: ['node'], lib: ['es2022'], target: 'es2022' };
const nodenext = { module: 'nodenext', moduleResolution: 'nodenext' };
function project(name, options, sources) {
  write(`${name}/package.json`, JSON.stringify({ type: 'module' }), outside);
  for (const [file, text] of Object.entries(sources)) write(`${name}/${file}`, text, outside);
  write(`${name}/tsconfig.json`, JSON.stringify({ compilerOptions: { ...strict, ...options }, files: Object.keys(sources) }), outside);
  return join(outside, name);
}
const withPgTypes = typed + checkedConfig;
const nodenextProject = project('ts-nodenext', nodenext, { 'esm.mts': withPgTypes, 'cjs.cts': withPgTypes });
const bundlerProject = project('ts-bundler', { module: 'esnext', moduleResolution: 'bundler' }, { 'index.ts': withPgTypes });
const skipLibProject = project('ts-without-pg-types', { ...nodenext, skipLibCheck: true }, { 'esm.mts': typed, 'cjs.cts': typed });
const strictLibProject = project('ts-without-pg-types-strict', nodenext, { 'esm.mts': typed });

symlinkSync(join(root, 'node_modules', '@types', 'pg'), join(modules, '@types', 'pg'), 'dir');
step('TypeScript with @types/pg, moduleResolution nodenext (ESM and CJS files)', () => run(process.execPath, [tsc, '-p', nodenextProject]));
step('TypeScript with @types/pg, moduleResolution bundler', () => run(process.execPath, [tsc, '-p', bundlerProject]));
rmSync(join(modules, '@types', 'pg'));
step('TypeScript without @types/pg, skipLibCheck on', () => run(process.execPath, [tsc, '-p', skipLibProject]));
step('TypeScript without @types/pg, skipLibCheck off: asks for @types/pg (TS7016 on pg) and nothing else', () => {
  let output;
  try {
    output = run(process.execPath, [tsc, '-p', strictLibProject]);
  } catch (error) {
    output = `${error.stdout ?? ''}${error.stderr ?? ''}`;
  }
  const errors = output.split('\n').filter((line) => /error TS\d+/.test(line));
  const others = errors.filter((line) => !/error TS7016: Could not find a declaration file for module 'pg'/.test(line));
  if (errors.length === 0) throw new Error('it type-checks: the README and this check can say so now');
  if (others.length > 0) throw new Error(`other errors:\n${others.join('\n')}`);
  return `${errors.length} × TS7016 on 'pg'`;
});
rmSync(outside, { recursive: true, force: true });

// 4. The command-line tool, as npm links it.
step('bin pgnotifier --version', () => {
  const output = run(process.execPath, [join(installed, manifest.bin.pgnotifier), '--version']).trim();
  if (output !== manifest.version) throw new Error(`expected ${manifest.version}, got ${output}`);
  return output;
});

rmSync(work, { recursive: true, force: true });
if (failures > 0) {
  console.log(`${failures} consumer check(s) failed`);
  process.exit(1);
}
console.log('all consumer checks passed');
