// Reading a Cage from YAML or an object: every problem reported with its field path, never a throw
// from deep inside a library.
import yaml from 'js-yaml';
import { CageSchema, type Cage } from './cage.ts';
import { problemsFromZod, ValidationError, type FieldProblem } from './validation.ts';

export type CageResult = { ok: true; cage: Cage } | { ok: false; problems: FieldProblem[] };

export function validateCage(doc: unknown): CageResult {
  const parsed = CageSchema.safeParse(doc);
  if (parsed.success) return { ok: true, cage: parsed.data };
  return { ok: false, problems: problemsFromZod(parsed.error) };
}

export function parseCageYaml(text: string): CageResult {
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text).filter((d) => d !== null && d !== undefined);
  } catch (err) {
    const e = err as { mark?: { line: number; column: number }; reason?: string };
    const where = e.mark ? `line ${e.mark.line + 1}, column ${e.mark.column + 1}` : '(file)';
    return { ok: false, problems: [{ path: where, message: `not valid YAML: ${e.reason ?? String(err)}` }] };
  }
  if (docs.length !== 1)
    return {
      ok: false,
      problems: [{ path: '(file)', message: `expected exactly one Cage document, found ${docs.length}` }],
    };
  return validateCage(docs[0]);
}

/** Parses or throws a ValidationError carrying every problem. */
export function loadCage(text: string): Cage {
  const r = parseCageYaml(text);
  if (!r.ok) throw new ValidationError(r.problems);
  return r.cage;
}
