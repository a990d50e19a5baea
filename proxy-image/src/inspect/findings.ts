// What the secret scanners report. A finding carries the matched text for the inspectors' own use;
// anything shown to a human goes through mask().
import type { SecretPattern } from './patterns.ts';
import type { Severity } from './types.ts';

export type FindingKind = 'pattern' | 'real-value' | 'placeholder';

export interface Finding {
  kind: FindingKind;
  /** Pattern name, or the secret's name for real values and placeholders. */
  name: string;
  title: string;
  severity: Severity;
  action: 'block' | 'flag';
  /** Byte offset in the scanned input; inside an encoded run, the offset of that run. */
  offset: number;
  length: number;
  /** How it was found: 'plain', 'base64', 'url>base64' (outer first)... */
  encoding: string;
  /** The matched text. Internal only: show it through mask(). */
  value: string;
}

export interface KnownValue {
  name: string;
  value: string;
}

/** A known string to look for: a form of a real value, or a placeholder. */
export interface Needle {
  kind: 'real-value' | 'placeholder';
  name: string;
  text: string;
  encoding: string;
}

export function needleFinding(n: Needle, offset: number, outerEncoding: string): Finding {
  const real = n.kind === 'real-value';
  const encoding =
    [outerEncoding, n.encoding === 'plain' ? '' : n.encoding].filter(Boolean).join('>') || 'plain';
  return {
    kind: n.kind,
    name: n.name,
    title: real ? `the real value of secret ${n.name}` : `the placeholder of secret ${n.name}`,
    severity: real ? 'critical' : 'medium',
    action: real ? 'block' : 'flag',
    offset,
    length: n.text.length,
    encoding,
    value: n.text,
  };
}

/** A match of pattern `p`: `value` the secret, `offset`/`length` where it was found (`enc` '' = plain). */
export function patternFinding(
  p: SecretPattern,
  value: string,
  offset: number,
  length: number,
  enc: string,
): Finding {
  return {
    kind: 'pattern',
    name: p.name,
    title: p.title,
    severity: p.severity,
    action: p.action,
    offset,
    length,
    encoding: enc || 'plain',
    value,
  };
}

/** Adds f unless the same thing (kind, name, text) was already found. */
export function addFinding(out: Finding[], seen: Set<string>, f: Finding): void {
  const key = `${f.kind}\0${f.name}\0${f.value}`;
  if (seen.has(key)) return;
  seen.add(key);
  out.push(f);
}

/** The needles for a set of real values (in every encoded form) and placeholders (as they are). */
export function buildNeedles(
  realValues: readonly KnownValue[],
  placeholders: readonly KnownValue[],
  forms: (value: string) => Array<[string, string]>,
): Needle[] {
  const out: Needle[] = [];
  for (const { name, value } of realValues) {
    if (value.length === 0) continue;
    for (const [encoding, text] of forms(value)) out.push({ kind: 'real-value', name, text, encoding });
  }
  for (const { name, value } of placeholders)
    out.push({ kind: 'placeholder', name, text: value, encoding: 'plain' });
  return out;
}
