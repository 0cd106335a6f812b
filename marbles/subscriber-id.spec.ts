import { InvalidArgumentError } from '../src/index.js';
import { subscriberIdOf, subscriberKey } from '../src/state/subscriber-id.js';

/** @test {subscriberKey} */
describe('subscriber keys', () => {
  it('compare arrays by value and keep numbers apart from strings', () => {
    expect(subscriberKey(['a', 1])).toBe(subscriberKey(['a', 1]));
    expect(subscriberKey(1)).not.toBe(subscriberKey('1'));
    expect(subscriberKey([['x'], 2])).toBe('[["x"],2]');
  });

  it('give back a fresh copy of the id', () => {
    const id = ['a', [1, 2]];
    const copy = subscriberIdOf(subscriberKey(id));
    expect(copy).toEqual(id);
    expect(copy).not.toBe(id);
  });

  it('refuse what is not a string, a finite number or an array of those', () => {
    for (const bad of [Number.NaN, Infinity, null, undefined, {}, [{}], true, Symbol('s'), () => 1]) {
      expect(() => subscriberKey(bad)).toThrow(InvalidArgumentError);
    }
    let deep: unknown = 'x';
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(() => subscriberKey(deep)).toThrow(InvalidArgumentError);
  });
});
