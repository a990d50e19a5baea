// The secret swap: outbound, placeholders become real values (only towards the secret's own hosts,
// only where its injectIn allows); inbound, every real value becomes its placeholder again, so the
// agent never sees one. Encoded forms of real values (URL, JSON, base64, hex) are redacted too.
import type { PolicySecret } from '../../../operator/api/policy.ts';
import { hostMatchesAny } from './domains.ts';
import { base64Cores } from './encodings.ts';
import { NeedleIndex } from './needle-index.ts';
import type { HeaderPair } from './types.ts';

const EMPTY = Buffer.alloc(0);

/**
 * Redacts a stream chunk by chunk. Each call returns the redacted bytes that are ready, as parts
 * to write in order: a chunk with nothing to redact comes back as a view of itself, not a copy
 * (large bodies would otherwise be copied once more on their way through the proxy).
 */
export interface StreamRedactor {
  push(chunk: Buffer): Buffer[];
  end(): Buffer[];
  readonly redacted: ReadonlySet<string>;
}

export interface SecretSwap {
  injectHead(
    host: string,
    path: string,
    headers: HeaderPair[],
  ): { path: string; headers: HeaderPair[]; injected: string[] };
  injectBody(host: string, body: Buffer): { body: Buffer; injected: string[] };
  injectFrame(host: string, data: Buffer): { data: Buffer; injected: string[] };
  redactHeaders(headers: HeaderPair[]): { headers: HeaderPair[]; redacted: string[] };
  createRedactor(): StreamRedactor;
  redactFrame(data: Buffer): { data: Buffer; redacted: string[] };
}

interface Entry {
  name: string;
  placeholder: string;
  value: string;
  injectTo: string[];
  injectIn: string[];
  phBytes: Buffer;
  valueBytes: Buffer;
}

/** One replacement the redactor performs: `from` (a form of a real value) -> `to`. */
interface Rule {
  name: string;
  from: Buffer;
  to: Buffer;
}

/** Replaces every occurrence of `from` in buf; returns buf itself when there is none. */
export function replaceAll(buf: Buffer, from: Buffer, to: Buffer): { out: Buffer; count: number } {
  let at = buf.indexOf(from);
  if (at < 0) return { out: buf, count: 0 };
  const parts: Buffer[] = [];
  let last = 0;
  let count = 0;
  while (at >= 0) {
    parts.push(buf.subarray(last, at), to);
    last = at + from.length;
    count++;
    at = buf.indexOf(from, last);
  }
  parts.push(buf.subarray(last));
  return { out: Buffer.concat(parts), count };
}

/** Same-length stand-in for an encoded real value: the placeholder's encoding, cut or padded. */
function sameLength(s: string, len: number, pad: string): string {
  return s.length >= len ? s.slice(0, len) : s + pad.repeat(len - s.length);
}

function redactionRules(entries: readonly Entry[]): Rule[] {
  const rules: Rule[] = [];
  const add = (name: string, from: string, to: string) => {
    if (
      from.length > 0 &&
      !rules.some((r) => r.from.toString('latin1') === Buffer.from(from).toString('latin1'))
    )
      rules.push({ name, from: Buffer.from(from), to: Buffer.from(to) });
  };
  for (const e of entries) {
    add(e.name, e.value, e.placeholder);
    const url = encodeURIComponent(e.value);
    add(e.name, url, e.placeholder);
    add(e.name, url.replace(/%20/g, '+'), e.placeholder);
    add(
      e.name,
      url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
      e.placeholder,
    );
    add(e.name, JSON.stringify(e.value).slice(1, -1), e.placeholder);
    const hex = e.valueBytes.toString('hex');
    const phHex = e.phBytes.toString('hex');
    add(e.name, hex, sameLength(phHex, hex.length, '0'));
    add(e.name, hex.toUpperCase(), sameLength(phHex.toUpperCase(), hex.length, '0'));
    // base64 at each alignment: swap the characters that depend only on the value for the
    // placeholder's at the same alignment, so the stream around it still decodes.
    const cores = base64Cores(e.valueBytes);
    const phCores = base64Cores(e.phBytes);
    cores.forEach((core, shift) => {
      if (core.length < 8) return;
      const to = sameLength(phCores[shift] ?? '', core.length, 'A');
      add(e.name, core, to);
      add(e.name, core.replace(/\+/g, '-').replace(/\//g, '_'), to.replace(/\+/g, '-').replace(/\//g, '_'));
    });
  }
  // Longest first, so a value that contains another is replaced whole.
  return rules.sort((a, b) => b.from.length - a.from.length);
}

interface Match {
  at: number;
  rule: Rule;
}

/**
 * The redaction rules with an index over all their forms: one sampled pass over a buffer finds
 * every occurrence of any of them (rather than one indexOf per form: a secret has a dozen forms,
 * and at 1 KiB the calls themselves cost more than the search).
 */
interface RuleSet {
  rules: readonly Rule[];
  index: NeedleIndex;
}

function ruleSet(rules: readonly Rule[]): RuleSet {
  return { rules, index: new NeedleIndex(rules.map((r) => r.from.toString('latin1'))) };
}

/** Leftmost-longest, non-overlapping matches of the rules that start in [from, limit). */
function findMatches(buf: Buffer, set: RuleSet, limit: number, from = 0): Match[] {
  if (set.rules.length === 0) return [];
  const hits = set.index.find(buf);
  if (hits.length === 0) return [];
  const all: Match[] = [];
  for (const [i, at] of hits) if (at >= from && at < limit) all.push({ at, rule: set.rules[i] });
  if (all.length <= 1) return all;
  all.sort((a, b) => a.at - b.at || b.rule.from.length - a.rule.from.length);
  const picked: Match[] = [];
  let end = 0;
  for (const m of all) {
    if (m.at < end) continue;
    picked.push(m);
    end = m.at + m.rule.from.length;
  }
  return picked;
}

const endOf = (m: Match | undefined): number => (m ? m.at + m.rule.from.length : 0);

/** buf[from, upTo) with the matches replaced; a view of buf when there are none. */
function applyMatches(
  buf: Buffer,
  matches: readonly Match[],
  upTo: number,
  names: Set<string>,
  from = 0,
): Buffer {
  if (matches.length === 0) return from === 0 && upTo === buf.length ? buf : buf.subarray(from, upTo);
  const parts: Buffer[] = [];
  let last = from;
  for (const m of matches) {
    parts.push(buf.subarray(last, m.at), m.rule.to);
    last = m.at + m.rule.from.length;
    names.add(m.rule.name);
  }
  parts.push(buf.subarray(last, upTo));
  return Buffer.concat(parts);
}

function redactBuffer(buf: Buffer, set: RuleSet, names: Set<string>): Buffer {
  return applyMatches(buf, findMatches(buf, set, buf.length), buf.length, names);
}

class Redactor implements StreamRedactor {
  /** the last bytes seen, which may begin a value that continues in the next chunk (< hold + 1) */
  private tail: Buffer = EMPTY;
  private readonly names = new Set<string>();
  constructor(
    private readonly rules: RuleSet,
    private readonly hold: number,
  ) {}
  get redacted(): ReadonlySet<string> {
    return this.names;
  }
  push(chunk: Buffer): Buffer[] {
    if (this.rules.rules.length === 0) return [chunk];
    const tail = this.tail;
    // Small pieces: joining them with the tail is cheap.
    if (tail.length === 0 || chunk.length <= this.hold)
      return this.scan(tail.length ? Buffer.concat([tail, chunk]) : chunk);
    // A large chunk after a tail, without copying the chunk: matches that start in the tail lie
    // wholly within tail + the chunk's first `hold` bytes (the junction). The rest of the chunk
    // is searched in place, from where the junction's last match ended.
    const junction = Buffer.concat([tail, chunk.subarray(0, this.hold)]);
    const early = findMatches(junction, this.rules, tail.length);
    const reach = Math.max(tail.length, endOf(early[early.length - 1]));
    const first = applyMatches(junction, early, reach, this.names);
    const start = reach - tail.length;
    const safe = chunk.length - this.hold;
    const late = findMatches(chunk, this.rules, safe, start);
    const cut = Math.max(safe, start, endOf(late[late.length - 1]));
    const second = applyMatches(chunk, late, cut, this.names, start);
    this.tail = Buffer.from(chunk.subarray(cut));
    return first.length ? [first, second] : [second];
  }
  /** One buffer that starts after no tail: everything up to the last `hold` bytes goes out. */
  private scan(buf: Buffer): Buffer[] {
    // A match starting before `safe` is wholly inside buf; later ones may continue in the next chunk.
    const safe = buf.length - this.hold;
    if (safe <= 0) {
      this.tail = Buffer.from(buf);
      return [];
    }
    const matches = findMatches(buf, this.rules, safe);
    const cut = Math.max(safe, endOf(matches[matches.length - 1]));
    const out = applyMatches(buf, matches, cut, this.names);
    this.tail = Buffer.from(buf.subarray(cut));
    return [out];
  }
  end(): Buffer[] {
    const out = redactBuffer(this.tail, this.rules, this.names);
    this.tail = EMPTY;
    return out.length ? [out] : [];
  }
}

export function createSwap(
  secrets: readonly PolicySecret[],
  values: ReadonlyMap<string, string>,
): SecretSwap {
  const entries: Entry[] = [];
  for (const s of secrets) {
    const value = values.get(s.name);
    if (value === undefined || value === '') continue;
    entries.push({
      name: s.name,
      placeholder: s.placeholder,
      value,
      injectTo: s.injectTo,
      injectIn: s.injectIn,
      phBytes: Buffer.from(s.placeholder),
      valueBytes: Buffer.from(value),
    });
  }
  const rules = ruleSet(redactionRules(entries));
  const hold = rules.rules.reduce((m, r) => Math.max(m, r.from.length), 0) - 1;
  const forHost = (host: string, where: string) =>
    entries.filter((e) => e.injectIn.includes(where) && hostMatchesAny(host, e.injectTo));

  function injectBytes(host: string, data: Buffer, where: string): { data: Buffer; injected: string[] } {
    const injected: string[] = [];
    let out = data;
    for (const e of forHost(host, where)) {
      const r = replaceAll(out, e.phBytes, e.valueBytes);
      if (r.count > 0) {
        out = r.out;
        injected.push(e.name);
      }
    }
    return { data: out, injected };
  }

  return {
    injectHead(host, path, headers) {
      const injected = new Set<string>();
      let newPath = path;
      for (const e of forHost(host, 'url')) {
        if (newPath.includes(e.placeholder)) {
          newPath = newPath.split(e.placeholder).join(encodeURIComponent(e.value));
          injected.add(e.name);
        }
      }
      const inHeaders = forHost(host, 'headers');
      const newHeaders = headers.map(([name, value]): HeaderPair => {
        let v = value;
        for (const e of inHeaders) {
          if (v.includes(e.placeholder)) {
            v = v.split(e.placeholder).join(e.value);
            injected.add(e.name);
          }
        }
        // Basic auth: base64("user:placeholder") -> base64("user:value").
        const basic = /^(\s*basic\s+)([A-Za-z0-9+/]+={0,2})\s*$/i.exec(v);
        if (basic && name.toLowerCase() === 'authorization') {
          let cred = Buffer.from(basic[2], 'base64').toString('utf8');
          let changed = false;
          for (const e of inHeaders) {
            if (cred.includes(e.placeholder)) {
              cred = cred.split(e.placeholder).join(e.value);
              injected.add(e.name);
              changed = true;
            }
          }
          if (changed) v = basic[1] + Buffer.from(cred, 'utf8').toString('base64');
        }
        return [name, v];
      });
      return { path: newPath, headers: newHeaders, injected: [...injected] };
    },
    injectBody(host, body) {
      const r = injectBytes(host, body, 'body');
      return { body: r.data, injected: r.injected };
    },
    injectFrame(host, data) {
      return injectBytes(host, data, 'websocket');
    },
    redactHeaders(headers) {
      const names = new Set<string>();
      // One pass over all the values (a newline cannot occur in one); each header only on a hit.
      if (
        rules.rules.length === 0 ||
        rules.index.find(Buffer.from(headers.map((h) => h[1]).join('\n'), 'latin1')).length === 0
      )
        return { headers, redacted: [] };
      const out = headers.map(([n, v]): HeaderPair => {
        const b = Buffer.from(v, 'latin1');
        const r = redactBuffer(b, rules, names);
        return [n, r === b ? v : r.toString('latin1')];
      });
      return { headers: out, redacted: [...names] };
    },
    createRedactor() {
      return new Redactor(rules, Math.max(0, hold));
    },
    redactFrame(data) {
      const names = new Set<string>();
      const out = redactBuffer(data, rules, names);
      return { data: out, redacted: [...names] };
    },
  };
}
