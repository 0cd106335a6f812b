/* The notifier */
export { Notifier } from './notifier.js';
export type {
  ChangeOptions,
  ChannelOptions,
  DurableSubscribeOptions,
  NotifierDurableOptions,
  NotifierOptions,
  SubscribeOptions,
  UnsubscribeOptions,
} from './notifier-options.js';
export type { NotifierStatus } from './status.js';
export type { Counters } from './routing/counters.js';
export type { ChannelView, SerializedError, SubscriberView } from './state/views.js';
export type {
  ChannelName,
  ChannelNames,
  ConnectionState,
  ConnectionStatus,
  DurableDelivery,
  DurableNotification,
  DurableSubscriberCallback,
  Notification,
  ParseOption,
  PayloadParser,
  SubscriberCallback,
  SubscriberId,
  TypedChannel,
  UntypedChannel,
} from './types.js';

/* Sending and payloads */
export { notifyQuery, MAX_PAYLOAD_BYTES } from './payload/serialize.js';
export type { NotifyQuery } from './payload/serialize.js';
export { parseJsonOrRaw, parseRaw } from './payload/parsers.js';
export { MAX_CHANNEL_BYTES, validateChannel } from './channel-name.js';

/* Sources: where notifications enter */
export { PgListenSource } from './source/pg-listen-source.js';
export type { PgListenSourceOptions } from './source/pg-listen-source.js';
export type { ReconnectOptions } from './source/backoff.js';
export { MemorySource } from './source/memory-source.js';
export type { MemorySourceOptions } from './source/memory-source.js';
export type { NotificationSource, RawNotification, SourceState } from './source/notification-source.js';
export type { ServerStatus } from './source/server-status.js';
export type { DurableMessage, DurableSource, DurableStart } from './source/durable-source.js';

/* Durable channels */
export { PgDurableSource } from './durable/pg-durable-source.js';
export type { DurableLag, PgDurableSourceOptions } from './durable/pg-durable-source.js';
export { durableSchemaSql, durableWakeChannel, DEFAULT_DURABLE_SCHEMA, DURABLE_WAKE_PREFIX } from './durable/durable-schema-sql.js';
export { publishQuery } from './durable/publish-query.js';
export type { PublishQuery, PublishQueryOptions } from './durable/publish-query.js';
export { publishManyQuery } from './durable/publish-many-query.js';
export type { PublishManyQuery } from './durable/publish-many-query.js';
export { ReplayGapError } from './errors/replay-gap-error.js';
export { DurableUnavailableError } from './errors/durable-unavailable-error.js';
export type { DurableReaderStatus } from './durable/durable-readers.js';

/* Errors */
export { NotifierError } from './errors/notifier-error.js';
export { isNotifierError } from './errors/is-notifier-error.js';
export type { KnownNotifierError } from './errors/is-notifier-error.js';
export { InvalidArgumentError } from './errors/invalid-argument-error.js';
export { InvalidChannelError } from './errors/invalid-channel-error.js';
export { UnknownChannelError } from './errors/unknown-channel-error.js';
export { UnknownSubscriberError } from './errors/unknown-subscriber-error.js';
export { PayloadTooLargeError } from './errors/payload-too-large-error.js';
export { PayloadParseError } from './errors/payload-parse-error.js';
export { SubscriberError } from './errors/subscriber-error.js';
export { NotifierClosedError } from './errors/notifier-closed-error.js';
export { ConnectionError } from './errors/connection-error.js';
export { StandbyError } from './errors/standby-error.js';
export { TransactionPoolerError } from './errors/transaction-pooler-error.js';
export { ChannelRefusedError } from './errors/channel-refused-error.js';
export { QueueUsageWarning } from './errors/queue-usage-warning.js';
