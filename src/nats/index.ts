/* pgnotifier/nats: scaling out through NATS (JetStream for durable channels). */
export { NatsSource } from './nats-source.js';
export type { NatsSourceOptions, NatsSourceStatus } from './nats-source.js';
export { NatsDurable } from './nats-durable.js';
export type { NatsDurableOptions } from './nats-durable.js';
export { relay } from './relay.js';
export type { Relay, RelayOptions, RelayOutboxOptions } from './relay.js';
export type { RelayRole, RelayState, RelayStatus } from './relay-status.js';
export type { LockTiming } from './lock-connection.js';
export type { NatsOption } from './nats-connection.js';
export type { StreamLimits } from './stream.js';
export { DEFAULT_STREAM_LIMITS } from './stream.js';
export { HEADER } from './headers.js';
export type { RelayAnnouncement } from './headers.js';
export { decodeSubjectToken, durableSubject, encodeSubjectToken, plainSubject, relaySubject } from './subject-token.js';
export { durableConsumerName } from './consumer-name.js';
export { NoDatabaseError } from './no-database-error.js';
