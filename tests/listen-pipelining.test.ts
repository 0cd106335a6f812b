import { Socket } from 'node:net';

import { Notifier } from '../src/index.js';
import { databaseUrl, uniqueChannel, useTestDatabase, waitFor } from './support/db.js';

const db = useTestDatabase();

/** A socket that records, in order, every chunk it sends and every read it gets. */
class RecordingSocket extends Socket {
  readonly events: ('sent' | 'read')[] = [];

  constructor() {
    super();
    this.on('data', () => this.events.push('read'));
  }

  // Node's Writable hands every chunk to _write, or to _writev when several were corked together.
  override _write(chunk: unknown, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.events.push('sent');
    super._write(chunk, encoding, callback);
  }

  override _writev(chunks: { chunk: unknown; encoding: BufferEncoding }[], callback: (error?: Error | null) => void): void {
    this.events.push(...chunks.map((): 'sent' => 'sent'));
    super._writev?.(chunks, callback);
  }

  /** The longest run of chunks sent with no read between them. */
  longestWriteRun(): number {
    let longest = 0;
    let run = 0;
    for (const event of this.events) {
      run = event === 'sent' ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    return longest;
  }
}

test('start() sends the LISTENs of 500 channels back to back (pipelined) and every channel delivers', async () => {
  const socket = new RecordingSocket();
  const n = db.track(new Notifier({ connectionString: databaseUrl(), stream: () => socket }));
  const prefix = uniqueChannel('pipe');
  const heard = new Map<string, unknown>();
  for (let i = 0; i < 500; i++) {
    await n.subscribe('all', `${prefix}_${i}`, (_id, channel, payload) => heard.set(channel, payload), { autorun: false });
  }
  await n.start();
  expect(n.activeChannels()).toHaveLength(500);
  // One round trip per LISTEN would alternate sent, read, sent, read: here they all go out
  // before the first answer is read.
  expect(socket.longestWriteRun()).toBeGreaterThanOrEqual(500);

  await db.client.query(`SELECT count(pg_notify($1 || '_' || g, g::text)) FROM generate_series(0, 499) AS g`, [prefix]);
  await waitFor('a notification on every channel', () => heard.size === 500);
  for (let i = 0; i < 500; i++) expect(heard.get(`${prefix}_${i}`)).toBe(i);
});
