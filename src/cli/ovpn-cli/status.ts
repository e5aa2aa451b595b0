/**
 * How ovpn-cli reports: text goes to an `Output` (stdout/stderr, or a buffer in tests), and every
 * command ends with a C-style status as the selftest tool's main() returns it: 0, a negative errno, or
 * -1. The process exit code is that status modulo 256 (-1 -> 255, -EINVAL -> 234, -ENOENT -> 254).
 */

export interface Output {
  /** Writes to standard output (the text carries its own newlines). */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
}

/** The real streams (synchronous on Linux for files, pipes and terminals, so nothing is lost on exit). */
export const stdio: Output = {
  out: (t) => {
    process.stdout.write(t);
  },
  err: (t) => {
    process.stderr.write(t);
  },
};

/** Collects output in memory (tests). */
export class BufferOutput implements Output {
  stdout = '';
  stderr = '';
  out(t: string): void {
    this.stdout += t;
  }
  err(t: string): void {
    this.stderr += t;
  }
}

/** A command stopped with `status` (its messages are already printed). */
export class CliFailure extends Error {
  constructor(
    readonly status: number,
    message = `status ${status}`,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/**
 * A failure of the tool's argument stage (values it checks or files it reads while parsing): reported
 * as "invalid arguments" (with the usage for -EINVAL) instead of "Cannot execute command".
 */
export class ArgFailure extends CliFailure {
  override name = 'ArgFailure';
}

/** The exit code of a C `return status` from main(). */
export function exitCode(status: number): number {
  return ((status % 256) + 256) % 256;
}
