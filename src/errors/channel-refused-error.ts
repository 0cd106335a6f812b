import { messageOf } from './message-of.js';
import { NotifierError } from './notifier-error.js';

/**
 * The server refused LISTEN or UNLISTEN of one channel for a reason of its own, on a connection
 * that is otherwise fine. Only that channel is affected: the others keep delivering, and the
 * connection is not replaced for it.
 */
export class ChannelRefusedError extends NotifierError {
  /** `'ChannelRefusedError'`: survives serialisation and module copies, where `instanceof` does not. */
  override readonly name = 'ChannelRefusedError' as const;
  /** The channel the server refused. */
  readonly channel: string;
  /** `'LISTEN'` or `'UNLISTEN'`. */
  readonly command: 'LISTEN' | 'UNLISTEN';
  /** The server's SQLSTATE, when it gave one. */
  readonly code?: string;

  constructor(command: 'LISTEN' | 'UNLISTEN', channel: string, cause: unknown) {
    super(`The server refused ${command} of channel ${JSON.stringify(channel)}: ${messageOf(cause)}`, { cause });
    this.command = command;
    this.channel = channel;
    const { code } = (typeof cause === 'object' && cause !== null ? cause : {}) as { code?: unknown };
    if (typeof code === 'string') this.code = code;
  }
}
