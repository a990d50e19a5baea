// The naive secret scanner (reference and bench baseline): every regex over the whole input. Finds secret-shaped strings (patterns), known real values and placeholders in
// a buffer, also inside what looks URL-encoded, JSON-escaped, base64 or hex (two levels deep).
// Pure: text in, findings out. Offsets are byte offsets into the scanned input; a finding inside an
// encoded run carries the offset of that run.
import {
  addFinding,
  buildNeedles,
  needleFinding,
  patternFinding,
  type Finding,
  type KnownValue,
  type Needle,
} from './findings.ts';
import type { SecretPattern } from './patterns.ts';
import { base64Decode, encodedForms, hexDecode, jsonUnescape, percentDecode } from './encodings.ts';

const MAX_DEPTH = 2;
const MIN_ENCODED_RUN = 16;

export class NaiveScanner {
  private readonly needles: Needle[];

  constructor(
    private readonly patterns: readonly SecretPattern[],
    realValues: readonly KnownValue[] = [],
    placeholders: readonly KnownValue[] = [],
  ) {
    this.needles = buildNeedles(realValues, placeholders, encodedForms);
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
      p.regex.lastIndex = 0;
      for (let m = p.regex.exec(text); m !== null; m = p.regex.exec(text)) {
        if (m[0].length === 0) {
          p.regex.lastIndex++;
          continue;
        }
        const secret = m[1] ?? m[0];
        if (p.verify && !p.verify(secret)) continue;
        addFinding(out, seen, patternFinding(p, secret, enc ? base : base + m.index, m[0].length, enc));
      }
    }
  }

  private matchNeedles(text: string, base: number, enc: string, out: Finding[], seen: Set<string>) {
    for (const n of this.needles) {
      const at = text.indexOf(n.text);
      if (at >= 0) addFinding(out, seen, needleFinding(n, enc ? base : base + at, enc));
    }
  }
}

export function toLatin1(s: string): string {
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
