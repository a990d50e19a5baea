// Compressed request bodies (Content-Encoding gzip, deflate, br) are inspected decompressed: every
// detector would be blind to a compressed secret. Decompression is bounded (zip bombs) and a body
// that does not decode as declared is reported, never passed through unseen.
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { header } from './http-util.ts';
import type { RequestMessage } from './types.ts';

export type Decoded = { ok: true; body: Buffer } | { ok: false; reason: string };

const problems = new WeakMap<RequestMessage, string>();

/** Why the body of msg could not be decoded as it declares, if it could not. */
export function decodeProblem(msg: RequestMessage): string | undefined {
  return problems.get(msg);
}

function decodeOne(coding: string, body: Buffer, limit: number): Buffer {
  const opts = { maxOutputLength: limit + 1 };
  switch (coding) {
    case 'gzip':
    case 'x-gzip':
      return gunzipSync(body, opts);
    case 'deflate':
      // RFC 9110 says zlib-wrapped; some clients send raw deflate.
      try {
        return inflateSync(body, opts);
      } catch {
        return inflateRawSync(body, opts);
      }
    case 'br':
      return brotliDecompressSync(body, opts);
    default:
      throw new Error(`the content coding "${coding}" cannot be inspected`);
  }
}

export function decodeBody(contentEncoding: string, body: Buffer, limit: number): Decoded {
  const codings = contentEncoding
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c && c !== 'identity');
  let out = body;
  try {
    for (const c of codings.reverse()) {
      out = decodeOne(c, out, limit);
      if (out.length > limit)
        return { ok: false, reason: `decompresses to more than ${limit.toLocaleString('en-US')} bytes` };
    }
  } catch (e) {
    const msg = (e as Error).message;
    if (
      /maxOutputLength|Cannot create a Buffer larger/i.test(msg) ||
      (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
    )
      return { ok: false, reason: `decompresses to more than ${limit.toLocaleString('en-US')} bytes` };
    return { ok: false, reason: `does not decode as "${contentEncoding}" (${msg})` };
  }
  return { ok: true, body: out };
}

/** The message the inspectors see: its body decompressed when it declares a content coding. */
export function decodedRequest(msg: RequestMessage, limit: number): RequestMessage {
  const ce = header(msg.headers, 'content-encoding');
  if (!ce || msg.body.length === 0 || /^\s*identity\s*$/i.test(ce)) return msg;
  const d = decodeBody(ce, msg.body, limit);
  if (d.ok) return { ...msg, body: d.body };
  const copy = { ...msg };
  problems.set(copy, `the body declares Content-Encoding "${ce}" but ${d.reason}`);
  return copy;
}
