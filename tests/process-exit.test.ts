import { startChild } from './support/child.js';
import { databaseUrl } from './support/db.js';

test('a process that creates a notifier, subscribes, receives and closes exits by itself within 2 s', async () => {
  const child = startChild('tests/fixtures/exit-child.ts', [], { ...process.env, DATABASE_URL: databaseUrl() });
  const code = await child.exited;
  const exitedAt = Date.now();
  const output = child.stdout();
  expect(output).toContain('received {"hello":"child"}');
  const closedAt = Number(/closed (\d+)/.exec(output)?.[1]);
  expect(code).toBe(0);
  const lingered = exitedAt - closedAt;
  process.stdout.write(`child exited ${lingered} ms after close() resolved\n`);
  expect(lingered).toBeLessThan(2_000);
});
