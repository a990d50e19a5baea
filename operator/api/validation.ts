// Turns zod issues into one line per problem: the field path as Kubernetes prints it
// (`spec.egress.allow[2]`), what is wrong, and how to fix it. Never a stack trace.
import type { z } from 'zod';

export interface FieldProblem {
  path: string;
  message: string;
}

/** `['spec', 'egress', 'allow', 2]` -> `spec.egress.allow[2]` */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out || '(root)';
}

export function problemsFromZod(error: z.core.$ZodError, prefix: PropertyKey[] = []): FieldProblem[] {
  const out: FieldProblem[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({
          path: formatPath([...path, key]),
          message: `unknown field "${key}": remove it or check its spelling against the Cage schema (agentcage crd)`,
        });
      }
      continue;
    }
    out.push({ path: formatPath(path), message: issue.message });
  }
  return out;
}

export function formatProblems(problems: FieldProblem[]): string {
  return problems.map((p) => `${p.path}: ${p.message}`).join('\n');
}

/** Thrown by loaders; carries every problem so a CLI can print them all at once. */
export class ValidationError extends Error {
  constructor(
    public readonly problems: FieldProblem[],
    what = 'Cage',
  ) {
    super(`invalid ${what}:\n${formatProblems(problems)}`);
    this.name = 'ValidationError';
  }
}
