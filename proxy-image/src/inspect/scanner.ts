// The secret scanner: secret-shaped strings (patterns), known real values and placeholders in a
// buffer, also inside what looks URL-encoded, JSON-escaped, base64 or hex (two levels deep).
// Built for speed on large bodies without giving up coverage:
//  - known strings (real values in every encoding, placeholders): one sampled pass (NeedleIndex);
//  - secret formats: every format holds a word ([A-Za-z0-9_-]) of at least MIN_RUN bytes, so a
//    skip-scan finds runs of the base64 alphabet (words joined by "+" and "/") of that length, and
//    only there are word starts checked against the formats' anchors (a 2-byte table), or a marker
//    looked for just before a word (lookback formats); a format's regex then runs on a small window;
//  - encoded runs are decoded only when they can hold text (base64 with six quads of ASCII text in
//    a row at some alignment, hex whose high nibbles are printable, %XX, JSON \u and \/ escapes);
//  - generic formats (password=, Basic, user:pass@, service-account JSON) run their regex over
//    inputs up to FULL_LIMIT (the proxy's bodies; `agentcage scan` lifts the limit).
import { base64Decode, encodedForms, hexDecode, percentDecode } from './encodings.ts';
import {
  addFinding,
  buildNeedles,
  needleFinding,
  patternFinding,
  type Finding,
  type KnownValue,
  type Needle,
} from './findings.ts';
import { NeedleIndex } from './needle-index.ts';
import type { SecretPattern } from './patterns.ts';

export type { Finding, KnownValue } from './findings.ts';

const MAX_DEPTH = 2;
/** The shortest secret format is 20 bytes (an AWS access key id). */
export const MIN_RUN = 20;
/** base64 shorter than this cannot hold a secret worth decoding (18 bytes). */
const MIN_B64 = 24;
/** hex shorter than this cannot hold a secret worth decoding (16 bytes). */
const MIN_HEX = 32;
/** Generic patterns ('full' trigger) run over inputs up to this size. */
export const FULL_LIMIT = 256 * 1024;

// Byte classes.
const W = 1; // word byte: [A-Za-z0-9_-], what a token is made of
const B = 4; // base64 (either alphabet)
const H = 8; // hex digit
const UP = 16;
const LO = 32;
const CLS = new Uint8Array(256);
const setClass = (chars: string, f: number) => {
  for (const ch of chars) CLS[ch.charCodeAt(0)] |= f;
};
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGIT = '0123456789';
setClass(UPPER + LOWER + DIGIT + '_-', W);
setClass(UPPER + LOWER + DIGIT + '+/_-', B);
setClass(DIGIT + 'abcdefABCDEF', H);
setClass(UPPER, UP);
setClass(LOWER, LO);

interface AnchorGroup {
  anchor: Buffer;
  patterns: SecretPattern[];
}

export class SecretScanner {
  private readonly needles: Needle[];
  private readonly index: NeedleIndex;
  /** first two bytes of an anchor -> index + 1 into groups */
  private readonly bigram = new Uint16Array(1 << 16);
  private readonly groups: AnchorGroup[][] = [];
  private readonly wordLookbacks: SecretPattern[];
  private readonly base64Lookbacks: SecretPattern[];
  private readonly fulls: SecretPattern[];
  private readonly awsId?: SecretPattern;
  private readonly awsSecret?: SecretPattern;

  private readonly fullLimit: number;

  constructor(
    patterns: readonly SecretPattern[],
    realValues: readonly KnownValue[] = [],
    placeholders: readonly KnownValue[] = [],
    opts: { fullLimit?: number } = {},
  ) {
    this.fullLimit = opts.fullLimit ?? FULL_LIMIT;
    this.needles = buildNeedles(realValues, placeholders, encodedForms);
    this.index = new NeedleIndex(this.needles.map((n) => Buffer.from(n.text, 'utf8').toString('latin1')));
    for (const p of patterns) {
      if (p.trigger !== 'anchor') continue;
      for (const a of p.anchors) {
        if (a.length < 2) throw new Error(`pattern ${p.name}: anchor "${a}" is shorter than 2 characters`);
        const key = (a.charCodeAt(0) << 8) | a.charCodeAt(1);
        let slot = this.bigram[key];
        if (slot === 0) {
          this.groups.push([]);
          slot = this.bigram[key] = this.groups.length;
        }
        const list = this.groups[slot - 1];
        let g = list.find((x) => x.anchor.toString('latin1') === a);
        if (!g) list.push((g = { anchor: Buffer.from(a, 'latin1'), patterns: [] }));
        g.patterns.push(p);
      }
    }
    this.wordLookbacks = patterns.filter((p) => p.trigger === 'lookback' && p.lookback?.over === 'word');
    this.base64Lookbacks = patterns.filter((p) => p.trigger === 'lookback' && p.lookback?.over === 'base64');
    this.fulls = patterns.filter((p) => p.trigger === 'full');
    this.awsId = patterns.find((p) => p.name === 'aws-access-key-id');
    this.awsSecret = patterns.find((p) => p.name === 'aws-secret-access-key');
  }

  /** Every finding in `input` (a Buffer, or a string taken as its UTF-8 bytes). */
  scan(input: Buffer | string): Finding[] {
    const b = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
    const out: Finding[] = [];
    this.scanBuf(b, 0, '', 0, out, new Set());
    return out;
  }

  private scanBuf(
    b: Buffer,
    base: number,
    enc: string,
    depth: number,
    out: Finding[],
    seen: Set<string>,
  ): void {
    if (this.index.size > 0) {
      for (const [needle, pos] of this.index.find(b))
        addFinding(out, seen, needleFinding(this.needles[needle], enc ? base : base + pos, enc));
    }
    if (this.fulls.length > 0 && b.length <= this.fullLimit) {
      const text = b.toString('latin1');
      for (const p of this.fulls) this.runRegex(p, text, 0, base, enc, out, seen);
    }
    this.scanRuns(b, base, enc, depth, out, seen);
  }

  /**
   * Skip-scan for runs of base64 bytes ([A-Za-z0-9+/_-], which covers every token) of at least
   * MIN_RUN: look at the last byte a run starting at i would need; if it is not a run byte, no
   * such run starts before it.
   */
  private scanRuns(
    b: Buffer,
    base: number,
    enc: string,
    depth: number,
    out: Finding[],
    seen: Set<string>,
  ): void {
    const n = b.length;
    const M = MIN_RUN;
    let i = 0;
    while (i + M <= n) {
      if ((CLS[b[i + M - 1]] & B) === 0) {
        i += M;
        continue;
      }
      let j = i + M - 2;
      while (j >= i && (CLS[b[j]] & B) !== 0) j--;
      if (j >= i) {
        i = j + 1;
        continue;
      }
      let e = i + M;
      while (e < n && (CLS[b[e]] & B) !== 0) e++;
      this.inspectRun(b, i, e, base, enc, depth, out, seen);
      i = e + 1;
    }
    if (depth >= MAX_DEPTH) return;
    // Percent-encoding and JSON \u or \/ escapes can break a token apart: decode where they occur.
    if (b.indexOf(37) >= 0) {
      for (const [s, e] of segmentsAround(b, PERCENT, URL_BYTE)) {
        const raw = b.toString('latin1', s, e);
        const text = percentDecode(raw);
        if (text === raw) continue;
        this.scanBuf(
          Buffer.from(text, 'latin1'),
          enc ? base : base + s,
          enc ? `${enc}>url` : 'url',
          depth + 1,
          out,
          seen,
        );
      }
    }
    if (b.indexOf(92) < 0) return;
    for (const marker of JSON_ESCAPES) {
      for (const [s, e] of segmentsAround(b, marker, JSON_STRING_BYTE)) {
        const decoded = jsonUnescapeLoose(b.toString('latin1', s, e));
        if (decoded !== undefined) {
          const how = enc ? `${enc}>json` : 'json';
          this.scanBuf(Buffer.from(decoded, 'latin1'), enc ? base : base + s, how, depth + 1, out, seen);
        }
      }
    }
  }

  /** One long base64-alphabet run [s, e): its words (split at "+" and "/"), then the run as base64. */
  private inspectRun(
    b: Buffer,
    s: number,
    e: number,
    base: number,
    enc: string,
    depth: number,
    out: Finding[],
    seen: Set<string>,
  ): void {
    let w = s;
    for (let i = s; i <= e; i++) {
      if (i < e && (CLS[b[i]] & W) !== 0) continue;
      if (i - w >= MIN_RUN) this.inspectWord(b, w, i, base, enc, depth, out, seen);
      w = i + 1;
    }
    let be = e;
    while (be < b.length && b[be] === 61) be++; // "=" padding
    this.base64Run(b, s, be, base, enc, depth, out, seen);
  }

  /** One long word [s, e) (a run of [A-Za-z0-9_-]): its anchor, lookbacks, a hex decoding. */
  private inspectWord(
    b: Buffer,
    s: number,
    e: number,
    base: number,
    enc: string,
    depth: number,
    out: Finding[],
    seen: Set<string>,
  ): void {
    const slot = this.bigram[(b[s] << 8) | b[s + 1]];
    if (slot !== 0) this.tryAnchors(this.groups[slot - 1], b, s, base, enc, out, seen);
    for (const p of this.wordLookbacks) this.lookback(p, b, s, e, base, enc, out, seen);
    if (depth < MAX_DEPTH) this.hexRun(b, s, e, base, enc, depth, out, seen);
  }

  private lookback(
    p: SecretPattern,
    b: Buffer,
    s: number,
    e: number,
    base: number,
    enc: string,
    out: Finding[],
    seen: Set<string>,
  ): void {
    const lb = p.lookback as NonNullable<SecretPattern['lookback']>;
    const len = e - s;
    if (len < lb.min || len > lb.max) return;
    const from = Math.max(0, s - lb.before);
    if (!lb.marker.test(b.toString('latin1', from, s))) return;
    const text = b.toString('latin1', from, Math.min(b.length, e + 1));
    this.runRegex(p, text, 0, enc ? base : base + from, enc, out, seen);
  }

  private tryAnchors(
    groups: AnchorGroup[],
    b: Buffer,
    pos: number,
    base: number,
    enc: string,
    out: Finding[],
    seen: Set<string>,
  ): void {
    for (const g of groups) {
      const a = g.anchor;
      if (pos + a.length > b.length || b.compare(a, 0, a.length, pos, pos + a.length) !== 0) continue;
      for (const p of g.patterns) {
        const from = Math.max(0, pos - (p.back ?? 0));
        const to = Math.min(b.length, pos + p.reach);
        // One character of context on each side, so the pattern's edge checks see real neighbours.
        const left = from > 0 ? 1 : 0;
        const text = b.toString('latin1', from - left, Math.min(b.length, to + 1));
        this.runRegex(p, text, left, enc ? base : base + from - left, enc, out, seen, pos - from + left);
      }
    }
  }

  /**
   * Runs p's regex over text from `start`; with `mustCover`, only matches spanning that index count.
   * A match at index x is reported at offset origin + x (or at origin itself inside an encoded run).
   */
  private runRegex(
    p: SecretPattern,
    text: string,
    start: number,
    origin: number,
    enc: string,
    out: Finding[],
    seen: Set<string>,
    mustCover?: number,
  ): void {
    const re = p.regex;
    re.lastIndex = start;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      if (mustCover !== undefined && (m.index > mustCover || m.index + m[0].length <= mustCover)) continue;
      const secret = m[1] ?? m[0];
      if (p.verify && !p.verify(secret)) continue;
      addFinding(out, seen, patternFinding(p, secret, enc ? origin : origin + m.index, m[0].length, enc));
      if (p === this.awsId && this.awsSecret) this.awsCompanion(text, m.index, origin, enc, out, seen);
    }
  }

  /** An AWS secret access key is 40 base64 characters, usually right next to its key id. */
  private awsCompanion(
    text: string,
    idAt: number,
    origin: number,
    enc: string,
    out: Finding[],
    seen: Set<string>,
  ): void {
    const p = this.awsSecret as SecretPattern;
    const near = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;
    near.lastIndex = Math.max(0, idAt - 256);
    for (let m = near.exec(text); m !== null && m.index < idAt + 300; m = near.exec(text)) {
      const v = m[0];
      if (!(/[A-Z]/.test(v) && /[a-z]/.test(v) && /[0-9/+]/.test(v))) continue;
      addFinding(out, seen, patternFinding(p, v, enc ? origin : origin + m.index, 40, enc));
    }
  }

  private base64Run(
    b: Buffer,
    s: number,
    e: number,
    base: number,
    enc: string,
    depth: number,
    out: Finding[],
    seen: Set<string>,
  ): void {
    const len = e - s;
    if (len < MIN_B64) return;
    let flags = 0;
    for (let i = s; i < e && (flags & (UP | LO)) !== (UP | LO); i++) flags |= CLS[b[i]];
    if ((flags & (UP | LO)) !== (UP | LO)) return; // base64 of anything worth finding mixes cases
    for (const p of this.base64Lookbacks) this.lookback(p, b, s, e, base, enc, out, seen);
    if (depth >= MAX_DEPTH) return;
    // Only alignments where the run decodes to a stretch of text can hide a secret format, a
    // placeholder or a doubly encoded value (plain real values in base64 are needles already).
    const shifts = textAlignments(b, s, e);
    if (shifts === 0) return;
    const run = b.toString('latin1', s, e);
    const how = enc ? `${enc}>base64` : 'base64';
    for (let shift = 0; shift < 4 && len - shift >= MIN_B64; shift++) {
      if ((shifts & (1 << shift)) === 0) continue;
      const decoded = Buffer.from(base64Decode(run.slice(shift)), 'latin1');
      this.scanBuf(decoded, enc ? base : base + s + shift, how, depth + 1, out, seen);
    }
  }

  /** The hex runs of at least MIN_HEX inside the word [s, e) that decode to text, decoded. */
  private hexRun(
    b: Buffer,
    s: number,
    e: number,
    base: number,
    enc: string,
    depth: number,
    out: Finding[],
    seen: Set<string>,
  ): void {
    if (e - s < MIN_HEX) return;
    let hs = s;
    for (let i = s; i <= e; i++) {
      if (i < e && (CLS[b[i]] & H) !== 0) continue;
      if (i - hs >= MIN_HEX) this.hexText(b, hs, i, base, enc, depth, out, seen);
      hs = i + 1;
    }
  }

  private hexText(
    b: Buffer,
    s: number,
    e: number,
    base: number,
    enc: string,
    depth: number,
    out: Finding[],
    seen: Set<string>,
  ): void {
    const how = enc ? `${enc}>hex` : 'hex';
    for (let shift = 0; shift < 2; shift++) {
      // Hex of text: every high nibble is 2-7 (printable ASCII). Random hex (hashes, ids) is not.
      let miss = 0;
      const pairs = (e - s - shift) >> 1;
      for (let i = s + shift; i + 1 < e && miss <= pairs / 10; i += 2) {
        const c = b[i];
        if (c < 50 || c > 55) miss++;
      }
      if (miss > pairs / 10) continue;
      const decoded = Buffer.from(hexDecode(b.toString('latin1', s + shift, e)), 'latin1');
      this.scanBuf(decoded, enc ? base : base + s + shift, how, depth + 1, out, seen);
    }
  }
}

const B64_VALUE = new Int8Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((ch, v) => {
  B64_VALUE[ch.charCodeAt(0)] = v;
});
B64_VALUE[45] = 62; // '-' (base64url)
B64_VALUE[95] = 63; // '_'
/** Quads of text in a row needed before an alignment is worth decoding (18 bytes). */
const TEXT_QUADS = 6;

/**
 * Bit k set: decoding the run from character s + k yields at least TEXT_QUADS quads in a row of
 * ASCII text. A quad c0 c1 c2 c3 encodes bytes x y z; x < 0x80 needs c0 < 32 and x >= 0x20 needs
 * c0 >= 8; z < 0x80 needs (c2 & 3) <= 1. Random base64 passes one quad in five.
 */
export function textAlignments(b: Uint8Array, s: number, e: number): number {
  let mask = 0;
  for (let shift = 0; shift < 4; shift++) {
    // Skip-search over the quads s + shift + 4m: if the last quad of a row starting at m is not
    // text, no row starts at m..that quad; otherwise check the row backwards.
    const first = s + shift;
    const count = (e - first) >> 2;
    let m = 0;
    while (m + TEXT_QUADS <= count) {
      let k = m + TEXT_QUADS - 1;
      for (; k >= m; k--) {
        const q = first + 4 * k;
        const c0 = B64_VALUE[b[q]];
        if (!(c0 >= 8 && c0 < 32 && (B64_VALUE[b[q + 2]] & 3) <= 1)) break;
      }
      if (k < m) {
        mask |= 1 << shift;
        break;
      }
      m = k + 1;
    }
  }
  return mask;
}

const PERCENT = Buffer.from('%');
const JSON_ESCAPES = [Buffer.from('\\u'), Buffer.from('\\/')];
const URL_BYTE = new Uint8Array(256);
for (let c = 0x21; c < 0x7f; c++) URL_BYTE[c] = 1;
for (const c of '"\'<>`') URL_BYTE[c.charCodeAt(0)] = 0;
const JSON_STRING_BYTE = new Uint8Array(256).fill(1);
JSON_STRING_BYTE[34] = JSON_STRING_BYTE[10] = JSON_STRING_BYTE[13] = 0;
/** How far a segment around a marker extends either way (bytes). */
const SEGMENT_REACH = 8192;

/**
 * The segments of b around each occurrence of marker: maximal runs of bytes marked in `inside`
 * (bounded by SEGMENT_REACH each way), each listed once.
 */
export function segmentsAround(b: Buffer, marker: Buffer, inside: Uint8Array): Array<[number, number]> {
  const segs: Array<[number, number]> = [];
  let end = 0;
  for (let at = b.indexOf(marker); at >= 0; at = b.indexOf(marker, Math.max(at + 1, end))) {
    let s = at;
    const lo = Math.max(end, at - SEGMENT_REACH);
    while (s > lo && inside[b[s - 1]] === 1) s--;
    let e = at + marker.length;
    const hi = Math.min(b.length, at + SEGMENT_REACH);
    while (e < hi && inside[b[e]] === 1) e++;
    segs.push([s, e]);
    end = e;
  }
  return segs;
}

/** JSON string escapes inside a run (no quotes needed): \uXXXX, \/, \", \\, \n... */
export function jsonUnescapeLoose(s: string): string | undefined {
  let changed = false;
  const out = s.replace(/\\(u[0-9a-fA-F]{4}|["\\/bfnrt])/g, (_, e: string) => {
    changed = true;
    if (e[0] === 'u') {
      const cp = parseInt(e.slice(1), 16);
      return cp < 0x100
        ? String.fromCharCode(cp)
        : Buffer.from(String.fromCharCode(cp), 'utf8').toString('latin1');
    }
    return { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }[e] as string;
  });
  return changed ? out : undefined;
}
