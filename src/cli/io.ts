/** What the CLI touches of the outside world, so it can be driven from a test or a program. */
export interface CliIo {
  readonly stdout: NodeJS.WriteStream | (NodeJS.WritableStream & { isTTY?: boolean });
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  /** Where SIGINT and SIGTERM arrive. */
  readonly process: Pick<NodeJS.Process, 'on' | 'off'>;
}
