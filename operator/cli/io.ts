// What the CLI verbs share: reading a file or stdin, printing problems one per line, and errors that
// carry their exit code (0 ok, 1 invalid input, 2 usage) instead of a stack trace.
import { readFileSync } from 'node:fs';
import { formatProblems, type FieldProblem } from '../api/validation.ts';

export const EXIT = { ok: 0, invalid: 1, usage: 2 } as const;

/** An error the user should read as one message, with the exit code it means. */
export class CliError extends Error {
  constructor(
    message: string,
    public readonly exitCode: number = EXIT.invalid,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A file's text, or stdin for "-"; an unreadable file is invalid input, said in one line. */
export function readInput(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : (code ?? (err as Error).message);
    throw new CliError(`cannot read ${file}: ${why}`);
  }
}

/** Validation problems: one line each on stderr (`spec.egress.allow[2]: ...`), exit 1. */
export function problemsError(problems: FieldProblem[]): CliError {
  return new CliError(formatProblems(problems), EXIT.invalid);
}
