import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { databaseUrl } from './support/db.js';

test('a process that creates a notifier, subscribes, receives and closes exits by itself within 2 s', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'exit-child.ts')], {
    env: { ...process.env, DATABASE_URL: databaseUrl() },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = await new Promise<{ code: number | null; at: number }>((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, at: Date.now() });
    });
  });
  expect(output).toContain('received {"hello":"child"}');
  const closedAt = Number(/closed (\d+)/.exec(output)?.[1]);
  expect(exit.code).toBe(0);
  const lingered = exit.at - closedAt;
  process.stdout.write(`child exited ${lingered} ms after close() resolved\n`);
  expect(lingered).toBeLessThan(2_000);
});
