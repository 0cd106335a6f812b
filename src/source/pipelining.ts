import { PassThrough } from 'node:stream';

import pg from 'pg';

let pipelines: boolean | undefined;

/**
 * Whether the installed pg pipelines queries when a client is created with `pipeline: true`
 * (pg 8.23 and later): each query is written at once and answered in order, and one that fails does
 * not fail the ones behind it (checked: LISTEN, a failing SELECT, LISTEN → both LISTENs held).
 * Older versions ignore the option. Asked once, of a client that never connects.
 */
export function pgPipelines(): boolean {
  if (pipelines === undefined) {
    // Typed as always there, but an older pg leaves it undefined.
    const client: { pipeline?: unknown } = new pg.Client({ pipeline: true, stream: () => new PassThrough() });
    pipelines = client.pipeline === true;
  }
  return pipelines;
}
