/** Stops the embedded PostgreSQL the setup started, if it started one. */
export default async function globalTeardown() {
  await globalThis.__pgnotifierEmbedded?.destroy();
}
