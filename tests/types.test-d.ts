// Type-level tests, checked by `npm run typecheck` (tsc --noEmit) and never run: each
// `@ts-expect-error` line makes tsc fail if it compiles, each `expectType` line if the type differs.
/* eslint-disable @typescript-eslint/no-unused-vars, @typescript-eslint/no-unnecessary-type-parameters -- values here exist only to be typed */
import type { Observable } from 'rxjs';

import {
  isNotifierError,
  MemorySource,
  Notifier,
  type Notification,
  type SubscriberError,
  type UnknownChannelError,
} from '../src/index.js';

/** Compiles only when `A` and `B` are the same type. */
type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
function expectType<A, B>(_proof: Equal<A, B>): void {
  // type-level only
}

interface Order {
  readonly id: number;
  readonly total: number;
}
interface AuditEvent {
  readonly actor: string;
}

export function typedChannels(): void {
  const typed = new Notifier<{ orders: Order; audit: AuditEvent }>(new MemorySource());

  expectType<Observable<Notification<Order>>, ReturnType<typeof typed.channel$<'orders'>>>(true);
  const orders$ = typed.channel$('orders');
  expectType<typeof orders$, Observable<Notification<Order>>>(true);
  const audit$ = typed.channel$('audit');
  expectType<typeof audit$, Observable<Notification<AuditEvent>>>(true);
  // @ts-expect-error an unknown channel name is refused where the map is closed
  typed.channel$('refunds');

  void typed.subscribe('mailer', 'orders', (_id, _channel, payload) => {
    expectType<typeof payload, Order>(true);
  });
  void typed.subscribe('mailer', 'orders', (_id, _channel, payload: Order) => payload.total);
  // @ts-expect-error a callback for another payload type
  void typed.subscribe('mailer', 'orders', (_id, _channel, payload: AuditEvent) => payload.actor);
  // @ts-expect-error an unknown channel name
  void typed.subscribe('mailer', 'refunds', () => undefined);

  void typed.notify('orders', { id: 1, total: 2 });
  // @ts-expect-error a wrong payload type
  void typed.notify('orders', { actor: 'me' });
  // @ts-expect-error an unknown channel name
  void typed.notify('refunds', {});
  // @ts-expect-error names in other methods are checked too
  void typed.muteChannels(['orders', 'refunds']);
}

export function untypedChannels(): void {
  const untyped = new Notifier(new MemorySource());

  const any$ = untyped.channel$('anything');
  expectType<typeof any$, Observable<Notification>>(true);
  const per$ = untyped.channel$<Order>('orders');
  expectType<typeof per$, Observable<Notification<Order>>>(true);
  // A typed callback compiles under strict (issue 10, item 17).
  void untyped.subscribe('mailer', 'orders', (_id, _channel, payload: Order) => payload.total);
  void untyped.subscribe<Order>('mailer', 'orders', (_id, _channel, payload) => {
    expectType<typeof payload, Order>(true);
  });
  // @ts-expect-error the per-call type is checked against the callback
  void untyped.subscribe<Order>('mailer', 'orders', (_id, _channel, payload: AuditEvent) => payload.actor);
  void untyped.notify('anything', { any: 'thing' });
}

export function errorNames(error: unknown): string {
  if (!isNotifierError(error)) return 'other';
  switch (error.name) {
    case 'SubscriberError':
      expectType<typeof error, SubscriberError>(true);
      return String(error.id);
    case 'UnknownChannelError':
      expectType<typeof error, UnknownChannelError>(true);
      return error.channel;
    default:
      return error.message;
  }
}
