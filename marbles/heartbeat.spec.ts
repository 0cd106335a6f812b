import { ConnectionError } from '../src/index.js';
import { startHeartbeat } from '../src/source/heartbeat.js';

/** @test {startHeartbeat} with Jest's fake timers */
describe('heartbeat', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('pings every interval, never two in flight, and declares death after an unanswered timeout', () => {
    let pings = 0;
    const dead: ConnectionError[] = [];
    const stop = startHeartbeat({
      intervalMs: 100,
      timeoutMs: 50,
      ping: () => {
        pings++;
        return new Promise(() => undefined); // never answered
      },
      progress: () => 0,
      onDead: (error) => dead.push(error),
    });
    jest.advanceTimersByTime(100);
    expect(pings).toBe(1);
    jest.advanceTimersByTime(49);
    expect(dead).toEqual([]);
    jest.advanceTimersByTime(1);
    // The deadline decides from setImmediate, once the loop has had a chance to read the socket.
    expect(dead).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(dead).toEqual([expect.any(ConnectionError)]);
    jest.advanceTimersByTime(1_000);
    expect(pings).toBe(1);
    expect(dead).toHaveLength(1);
    stop();
  });

  it('anything arriving meanwhile counts as life; an answered ping clears the deadline', async () => {
    let progress = 0;
    let answer: () => void = () => undefined;
    const dead: ConnectionError[] = [];
    const stop = startHeartbeat({
      intervalMs: 100,
      timeoutMs: 50,
      ping: () => new Promise<void>((resolve) => (answer = resolve)),
      progress: () => progress,
      onDead: (error) => dead.push(error),
    });
    jest.advanceTimersByTime(100);
    progress++;
    jest.advanceTimersByTime(50); // re-armed: progress moved
    expect(dead).toEqual([]);
    answer();
    await Promise.resolve();
    jest.advanceTimersByTime(60);
    expect(dead).toEqual([]);
    stop();
    jest.advanceTimersByTime(1_000);
    expect(dead).toEqual([]);
  });
});
