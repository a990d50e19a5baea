// Header handling on the forwarding path. Pure. Headers stay raw ordered pairs (as sent).
import type { HeaderPair } from '../inspect/types.ts';

/** Per RFC 9110 7.6.1: meaningful for one hop only, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export function pairsFromRaw(raw: readonly string[]): HeaderPair[] {
  const out: HeaderPair[] = new Array(raw.length >> 1);
  for (let i = 0, j = 0; i < raw.length; i += 2, j++) out[j] = [raw[i], raw[i + 1]];
  return out;
}

export function headerValue(pairs: readonly HeaderPair[], lowerName: string): string | undefined {
  for (const [k, v] of pairs) if (k.length === lowerName.length && k.toLowerCase() === lowerName) return v;
  return undefined;
}

/** Names listed in Connection headers (also hop-by-hop). */
function connectionListed(pairs: readonly HeaderPair[]): Set<string> | undefined {
  let out: Set<string> | undefined;
  for (const [k, v] of pairs) {
    if (k.length === 10 && k.toLowerCase() === 'connection') {
      for (const token of v.split(',')) {
        const t = token.trim().toLowerCase();
        if (t && t !== 'close' && t !== 'keep-alive') (out ??= new Set()).add(t);
      }
    }
  }
  return out;
}

export interface ForwardHeaderOptions {
  /** names (lower case) dropped besides the hop-by-hop ones */
  drop?: ReadonlySet<string>;
}

/**
 * Flat [k, v, k, v] list for node's http APIs: hop-by-hop headers removed and the names in
 * `drop` removed; the caller appends what it sets itself (Host, Content-Length, ...).
 */
export function forwardHeaders(pairs: readonly HeaderPair[], opts: ForwardHeaderOptions = {}): string[] {
  const listed = connectionListed(pairs);
  const out: string[] = [];
  for (const [k, v] of pairs) {
    const lower = k.toLowerCase();
    if (HOP_BY_HOP.has(lower)) continue;
    if (listed?.has(lower)) continue;
    if (opts.drop?.has(lower)) continue;
    out.push(k, v);
  }
  return out;
}

export const REQUEST_DROP = new Set(['host', 'content-length', 'expect']);
export const RESPONSE_DROP_REFRAMED = new Set(['content-length']);
