import { Observable, type Subscribable } from 'rxjs';

import { PayloadParseError } from '../errors/payload-parse-error.js';
import type { RawNotification } from '../source/notification-source.js';
import type { Notification, PayloadParser } from '../types.js';

/**
 * The raw notifications of `input`, each parsed with `parse`. A parser that throws does not end
 * the stream: the notification is skipped and a {@link PayloadParseError} goes to `report`.
 *
 * It subscribes to `input` with a plain observer object, not through an operator: handed the
 * router's `ArrayMulticast`, each notification is one direct call from the multicast's loop to
 * the parse, where an operator (`source.pipe(…)`) would add a Subscriber and its try/catch per
 * notification. The channel's mute `switchMap` subscribes to this, so a muted channel neither
 * receives nor parses anything.
 *
 * @param input - the raw notifications (hot).
 * @param parse - the payload parser.
 * @param report - receives the parse errors.
 */
export function parseNotifications<T>(
  input: Subscribable<RawNotification>,
  parse: PayloadParser<T>,
  report: (error: PayloadParseError) => void,
): Observable<Notification<T>> {
  return new Observable<Notification<T>>((subscriber) =>
    input.subscribe({
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
