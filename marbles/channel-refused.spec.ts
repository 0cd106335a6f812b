import { defer, throwError, type ObservableInput } from 'rxjs';

import { ChannelRefusedError, ConnectionError, MemorySource, Notifier, type NotifierError } from '../src/index.js';

/** A server that refuses LISTEN of some channels for a reason of its own, or drops the connection on one. */
class RefusingSource extends MemorySource {
  recycled: Error[] = [];

  constructor(
    private readonly refuse: ReadonlySet<string>,
    private readonly breakOn = '',
  ) {
    super();
  }

  override listen(channel: string): ObservableInput<unknown> {
    if (this.refuse.has(channel)) {
      return defer(() => throwError(() => new ChannelRefusedError('LISTEN', channel, Object.assign(new Error('no'), { code: '42501' }))));
    }
    if (channel === this.breakOn && this.recycled.length === 0) return throwError(() => new ConnectionError('connection lost'));
    return super.listen(channel);
  }

  override recycle(reason: Error): void {
    this.recycled.push(reason);
    super.recycle(reason);
  }
}

/** @test {ListenReconciler} a channel the server refuses */
describe('a channel the server refuses', () => {
  it('is reported on errors$ with its name; its neighbours in the same batch are LISTENed and deliver; the connection stays', async () => {
    const source = new RefusingSource(new Set(['bad']));
    const notifier = new Notifier(source);
    const errors: NotifierError[] = [];
    notifier.errors$.subscribe((error) => errors.push(error));
    const got: unknown[] = [];
    await Promise.all(
      ['a', 'bad', 'b'].map((channel) => notifier.subscribe('s', channel, (_id, ch, payload) => got.push(`${ch}:${String(payload)}`))),
    );
    expect(source.listening().sort()).toEqual(['a', 'b']);
    expect(source.recycled).toEqual([]);
    expect(errors).toEqual([expect.any(ChannelRefusedError)]);
    expect(errors[0]).toMatchObject({ channel: 'bad', command: 'LISTEN', code: '42501' });
    source.deliver('a', '1');
    source.deliver('b', '2');
    expect(got).toEqual(['a:1', 'b:2']);
    expect(notifier.activeChannels().sort()).toEqual(['a', 'b']);
    await notifier.close();
  });

  it('a connection failure during a LISTEN still replaces the connection', async () => {
    const source = new RefusingSource(new Set(), 'boom');
    const notifier = new Notifier(source);
    notifier.errors$.subscribe(() => undefined);
    void notifier.subscribe('s', 'boom', () => undefined);
    await new Promise<void>((resolve) => setImmediate(resolve));
    // The connection was replaced once, and the new session LISTENs the channel.
    expect(source.recycled).toEqual([expect.any(ConnectionError)]);
    expect(source.listening()).toEqual(['boom']);
    await notifier.close();
  });
});
