/** The streams and environment a CLI run uses, passed in so tests can run the CLI in-process too. */
export interface CliIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}
