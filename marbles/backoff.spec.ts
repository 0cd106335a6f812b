import { backoffDelay, defaultReconnectOptions } from '../src/source/backoff.js';

/** @test {backoffDelay} through its `random` seam */
describe('backoff', () => {
  const options = { initialDelayMs: 100, maxDelayMs: 1_000 };

  it('doubles per retry up to the cap, jittered between half and all of the ceiling', () => {
    expect([1, 2, 3, 4, 5, 6].map((retry) => backoffDelay(retry, options, () => 0))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([1, 2, 3, 4, 5, 6].map((retry) => backoffDelay(retry, options, () => 0.999_999))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('stays finite and capped for huge retry counts and sane for retry 0', () => {
    expect(backoffDelay(10_000, defaultReconnectOptions, () => 0.5)).toBe(7_500);
    expect(backoffDelay(0, options, () => 0)).toBe(50);
  });
});
