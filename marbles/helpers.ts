import { config } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';

/** A fresh scheduler whose assertions are Jest's deep equality. */
export function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => {
    expect(actual).toEqual(expected);
  });
}

/**
 * Runs `fn` with RxJS's unhandled-error hook captured: an observer that throws is reported
 * there (on a virtual timeout inside `run()`), which would otherwise fail the test at flush.
 */
export function captureUnhandled(fn: (reported: unknown[]) => void): unknown[] {
  const reported: unknown[] = [];
  const previous = config.onUnhandledError;
  config.onUnhandledError = (error) => reported.push(error);
  try {
    fn(reported);
  } finally {
    config.onUnhandledError = previous;
  }
  return reported;
}
