/** A value as an error message shows it: strings quoted, anything else as `String` gives it. */
export function describeValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
