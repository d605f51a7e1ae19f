/**
 * An error caused by the user's input or environment (bad file, bad flag), as opposed to a bug.
 * The CLI prints its message as a one-line reason and exits non-zero without a stack trace.
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UserError';
  }
}

/** A data file that is missing or malformed; the message always names the file. */
export class DataFileError extends UserError {
  constructor(readonly file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'DataFileError';
  }
}
