/**
 * The message of anything thrown. Checks the shape rather than `instanceof Error`, which fails
 * for errors from another realm (a vm context, a worker, Jest's sandbox).
 */
export function messageOf(cause: unknown): string {
  if (typeof cause === 'object' && cause !== null && typeof (cause as { message?: unknown }).message === 'string') {
    return (cause as { message: string }).message;
  }
  return String(cause);
}
