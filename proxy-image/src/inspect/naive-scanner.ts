// The secret scanner: finds secret-shaped strings (patterns), known real values and placeholders in
// a buffer, also inside what looks URL-encoded, JSON-escaped, base64 or hex (two levels deep).
// Pure: text in, findings out. Offsets are byte offsets into the scanned input; a finding inside an
// encoded run carries the offset of that run.
import type { Severity } from './types.ts';
import type { SecretPattern } from './patterns.ts';
import { base64Decode, encodedForms, hexDecode, jsonUnescape, percentDecode } from './encodings.ts';

export type FindingKind = 'pattern' | 'real-value' | 'placeholder';

export interface Finding {
  kind: FindingKind;
  /** Pattern name, or the secret's name for real values and placeholders. */
  name: string;
  title: string;
  severity: Severity;
  action: 'block' | 'flag';
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

const MAX_DEPTH = 2;
const MIN_ENCODED_RUN = 16;

interface Needle {
  kind: FindingKind;
  name: string;
  text: string;
  encoding: string;
}

export class SecretScanner {
  private readonly needles: Needle[] = [];

  constructor(
    private readonly patterns: readonly SecretPattern[],
    realValues: readonly KnownValue[] = [],
    placeholders: readonly KnownValue[] = [],
  ) {
    for (const { name, value } of realValues) {
      if (value.length === 0) continue;
      for (const [encoding, text] of encodedForms(value))
        this.needles.push({ kind: 'real-value', name, text, encoding });
    }
    for (const { name, value } of placeholders) {
      this.needles.push({ kind: 'placeholder', name, text: value, encoding: 'plain' });
    }
  }

  /** Every finding in `input` (a Buffer, or a string that is treated as its UTF-8 bytes). */
  scan(input: Buffer | string): Finding[] {
    const text = typeof input === 'string' ? toLatin1(input) : input.toString('latin1');
    const out: Finding[] = [];
    const seen = new Set<string>();
    this.scanLayer(text, 0, '', 0, out, seen);
    return out;
  }

  private scanLayer(
    text: string,
    base: number,
    enc: string,
    depth: number,
    out: Finding[],
    seen: Set<string>,
  ) {
    this.matchPatterns(text, base, enc, out, seen);
    this.matchNeedles(text, base, enc, out, seen);
    if (depth >= MAX_DEPTH) return;
    for (const seg of encodedSegments(text)) {
      const childEnc = enc ? `${enc}>${seg.encoding}` : seg.encoding;
      this.scanLayer(seg.decoded, depth === 0 ? seg.start : base, childEnc, depth + 1, out, seen);
    }
  }

  private matchPatterns(text: string, base: number, enc: string, out: Finding[], seen: Set<string>) {
    for (const p of this.patterns) {
      if (p.anchors.length > 0 && !p.anchors.some((a) => text.includes(a))) continue;
      p.regex.lastIndex = 0;
      for (let m = p.regex.exec(text); m !== null; m = p.regex.exec(text)) {
        if (m[0].length === 0) {
          p.regex.lastIndex++;
          continue;
        }
        const secret = m[1] ?? m[0];
        if (p.verify && !p.verify(secret)) continue;
        push(out, seen, {
          kind: 'pattern',
          name: p.name,
          title: p.title,
          severity: p.severity,
          action: p.action,
          offset: enc ? base : base + m.index,
          length: m[0].length,
          encoding: enc || 'plain',
          value: secret,
        });
      }
    }
  }

  private matchNeedles(text: string, base: number, enc: string, out: Finding[], seen: Set<string>) {
    for (const n of this.needles) {
      const at = text.indexOf(n.text);
      if (at < 0) continue;
      const encoding = [enc, n.encoding === 'plain' ? '' : n.encoding].filter(Boolean).join('>') || 'plain';
      const real = n.kind === 'real-value';
      push(out, seen, {
        kind: n.kind,
        name: n.name,
        title: real ? `the real value of secret ${n.name}` : `the placeholder of secret ${n.name}`,
        severity: real ? 'critical' : 'medium',
        action: real ? 'block' : 'flag',
        offset: enc ? base : base + at,
        length: n.text.length,
        encoding,
        value: n.text,
      });
    }
  }
}

function push(out: Finding[], seen: Set<string>, f: Finding) {
  const key = `${f.kind}\0${f.name}\0${f.value}`;
  if (seen.has(key)) return;
  seen.add(key);
  out.push(f);
}

export function toLatin1(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1');
}

interface Segment {
  start: number;
  encoding: 'url' | 'json' | 'base64' | 'hex';
  decoded: string;
}

const URL_RUN = /[^\s"'<>]*%[0-9A-Fa-f]{2}[^\s"'<>]*/g;
const JSON_STRING = /"((?:[^"\\\r\n]|\\.)*)"/g;
const B64_RUN = /[A-Za-z0-9+/_-]{16,}={0,2}/g;
const HEX_RUN = /[0-9a-fA-F]{16,}/g;

/** The runs of `text` that look encoded, decoded (every alignment for base64 and hex). */
export function encodedSegments(text: string): Segment[] {
  const segs: Segment[] = [];
  if (text.includes('%')) {
    URL_RUN.lastIndex = 0;
    for (let m = URL_RUN.exec(text); m; m = URL_RUN.exec(text)) {
      segs.push({ start: m.index, encoding: 'url', decoded: percentDecode(m[0]) });
    }
  }
  if (text.includes('\\')) {
    JSON_STRING.lastIndex = 0;
    for (let m = JSON_STRING.exec(text); m; m = JSON_STRING.exec(text)) {
      if (!m[1].includes('\\')) continue;
      const decoded = jsonUnescape(m[1]);
      if (decoded !== undefined) segs.push({ start: m.index, encoding: 'json', decoded });
    }
  }
  B64_RUN.lastIndex = 0;
  for (let m = B64_RUN.exec(text); m; m = B64_RUN.exec(text)) {
    const run = m[0];
    const pieces = run.includes('/')
      ? [run, ...run.split('/').filter((p) => p.length >= MIN_ENCODED_RUN)]
      : [run];
    for (const piece of pieces) {
      const at = m.index + run.indexOf(piece);
      for (let shift = 0; shift < 4 && piece.length - shift >= MIN_ENCODED_RUN; shift++) {
        segs.push({ start: at + shift, encoding: 'base64', decoded: base64Decode(piece.slice(shift)) });
      }
    }
  }
  HEX_RUN.lastIndex = 0;
  for (let m = HEX_RUN.exec(text); m; m = HEX_RUN.exec(text)) {
    segs.push({ start: m.index, encoding: 'hex', decoded: hexDecode(m[0]) });
    segs.push({ start: m.index + 1, encoding: 'hex', decoded: hexDecode(m[0].slice(1)) });
  }
  return segs;
}
