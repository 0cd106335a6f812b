import { InvalidArgumentError } from '../src/index.js';
import { decodeSubjectToken, durableConsumerName, encodeSubjectToken, plainSubject } from '../src/nats/index.js';

// What NATS allows in one subject token: no dot, no wildcard, no whitespace or control character.
// eslint-disable-next-line no-control-regex -- control characters are exactly what must not appear
const VALID_TOKEN = /^[^\s.*>\u0000-\u001f\u007f]+$/u;

const names = [
  'orders',
  'a.b',
  'a b',
  '*',
  '>',
  'a.*.>',
  "it's",
  '"quoted"',
  'tab\there',
  'line\nbreak',
  'ünïcödé',
  '注文',
  '😀 emoji',
  '=41',
  '=',
  'A',
  'a-b_c',
  'x'.repeat(63),
  'é'.repeat(31),
];

describe('subject tokens', () => {
  it.each(names)('round-trips %j into one valid NATS token', (name) => {
    const token = encodeSubjectToken(name);
    expect(token).toMatch(VALID_TOKEN);
    expect(decodeSubjectToken(token)).toBe(name);
    expect(plainSubject('pgnotifier', name).split('.')).toEqual(['pgnotifier', 'p', token]);
  });

  it('never gives two names the same token', () => {
    const tricky = [...names, 'a=2Eb', 'a.b', 'A', 'a', '=3D41', 'AB', 'a_b', 'a-b'];
    const byToken = new Map<string, string>();
    for (const name of new Set(tricky)) {
      const token = encodeSubjectToken(name);
      expect(byToken.get(token)).toBeUndefined();
      byToken.set(token, name);
    }
  });

  it('refuses tokens it did not make', () => {
    for (const token of ['', 'a.b', 'a b', '=4', '=zz', '=41', '=FF', 'a*']) {
      expect(() => decodeSubjectToken(token)).toThrow(InvalidArgumentError);
    }
  });

  it('names durable consumers from both the id and the channel, within NATS limits', () => {
    const a = durableConsumerName('mailer', 'a.b');
    expect(a).toMatch(/^[A-Za-z0-9_=-]+$/);
    expect(a.length).toBeLessThanOrEqual(64);
    expect(durableConsumerName('mailer', 'a.b')).toBe(a);
    expect(durableConsumerName('mailer', 'a_b')).not.toBe(a);
    expect(durableConsumerName('mailer a', 'b')).not.toBe(durableConsumerName('mailer', 'a b'));
    expect(durableConsumerName('x'.repeat(200), '😀'.repeat(15)).length).toBeLessThanOrEqual(64);
  });
});
