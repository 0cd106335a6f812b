import { createHash } from 'node:crypto';

import { encodeSubjectToken } from './subject-token.js';

/**
 * The JetStream durable consumer name of (`consumer`, `channel`): a readable, escaped start of
 * both (names may not hold `.`, `*`, `>`, whitespace or slashes) and a hash of the pair, so that
 * two pairs never share a consumer however long or alike their names are.
 *
 * @example
 * ```ts
 * import { durableConsumerName } from 'pgnotifier/nats';
 *
 * durableConsumerName('mailer', 'orders'); // 'mailer_orders_3b1f…' (58 characters at most)
 * ```
 */
export function durableConsumerName(consumer: string, channel: string): string {
  const hash = createHash('sha256').update(consumer).update('\0').update(channel).digest('hex').slice(0, 24);
  return `${readable(consumer)}_${readable(channel)}_${hash}`;
}

function readable(name: string): string {
  // Whole escapes only: a cut `=4` would still be valid, but is less readable.
  return encodeSubjectToken(name)
    .slice(0, 16)
    .replace(/=[0-9A-F]?$/, '');
}
