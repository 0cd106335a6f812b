import { Observable, type OperatorFunction } from 'rxjs';

import { PayloadParseError } from '../errors/payload-parse-error.js';
import type { RawNotification } from '../source/notification-source.js';
import type { Notification, PayloadParser } from '../types.js';

/**
 * Parses each raw notification's payload. A parser that throws does not end the stream: the
 * notification is skipped and a {@link PayloadParseError} goes to `report`.
 *
 * @param parse - the payload parser.
 * @param report - receives the parse errors.
 */
export function parseNotifications<T>(
  parse: PayloadParser<T>,
  report: (error: PayloadParseError) => void,
): OperatorFunction<RawNotification, Notification<T>> {
  return (source) =>
    new Observable<Notification<T>>((subscriber) =>
      source.subscribe({
        next(raw) {
          let payload: T;
          try {
            payload = parse(raw.payload, raw.channel);
          } catch (cause) {
            report(new PayloadParseError(raw.channel, raw.payload, { cause }));
            return;
          }
          subscriber.next({ channel: raw.channel, payload, pid: raw.pid });
        },
        error: (error: unknown) => {
          subscriber.error(error);
        },
        complete: () => {
          subscriber.complete();
        },
      }),
    );
}
