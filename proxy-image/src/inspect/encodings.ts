// The encodings a secret can hide in, both ways: the encoded forms of a known value (to search for
// it directly) and decoders for text that looks encoded (to search inside it).

export type Encoding = 'plain' | 'url' | 'json' | 'base64' | 'hex';

/** Every form of `value` we search for, each at least `min` characters long. */
export function encodedForms(value: string, min = 8): Array<[Encoding, string]> {
  const out: Array<[Encoding, string]> = [['plain', value]];
  const add = (enc: Encoding, s: string) => {
    if (s.length >= min && !out.some(([, v]) => v === s)) out.push([enc, s]);
  };
  const url = encodeURIComponent(value);
  add('url', url);
  add('url', url.replace(/%20/g, '+'));
  add(
    'url',
    url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
  );
  add('json', JSON.stringify(value).slice(1, -1));
  const bytes = Buffer.from(value, 'utf8');
  add('hex', bytes.toString('hex'));
  add('hex', bytes.toString('hex').toUpperCase());
  for (const b64 of base64Cores(bytes)) {
    add('base64', b64);
    add('base64', b64.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return out;
}

/**
 * The base64 characters that depend only on `bytes`, for each of the three alignments the bytes
 * can have inside a longer base64 stream (Basic auth "user:value", a value inside a JSON blob...).
 */
export function base64Cores(bytes: Buffer): string[] {
  const cores: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const enc = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const start = Math.ceil((8 * shift) / 6);
    const end = Math.floor((8 * (shift + bytes.length)) / 6);
    if (end > start) cores.push(enc.slice(start, end));
  }
  return cores;
}

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}

/** Percent-decoding of one latin1 string to bytes (as latin1); '+' is a space, as in forms. */
export function percentDecode(s: string): string {
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 && i + 2 < s.length) {
      const h = HEX[s.charCodeAt(i + 1) & 255];
      const l = HEX[s.charCodeAt(i + 2) & 255];
      if (h >= 0 && l >= 0) {
        out += s.slice(last, i) + String.fromCharCode(h * 16 + l);
        i += 2;
        last = i + 1;
      }
    } else if (c === 43) {
      out += s.slice(last, i) + ' ';
      last = i + 1;
    }
  }
  return out + s.slice(last);
}

/** JSON string-literal contents -> latin1 view of its UTF-8 bytes; undefined if not valid. */
export function jsonUnescape(content: string): string | undefined {
  try {
    const v: unknown = JSON.parse('"' + content + '"');
    return typeof v === 'string' ? Buffer.from(v, 'utf8').toString('latin1') : undefined;
  } catch {
    return undefined;
  }
}

export function base64Decode(s: string): string {
  return Buffer.from(s, 'base64').toString('latin1');
}

export function hexDecode(s: string): string {
  return Buffer.from(s.length % 2 ? s.slice(0, -1) : s, 'hex').toString('latin1');
}
