// Plain-JSON helpers: structural equality, a key-order independent serialisation (for hashes),
// and deep copies. Kubernetes objects are plain JSON, so nothing else is needed.
import * as crypto from 'node:crypto';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!deepEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

/** JSON with object keys sorted at every level: equal values give equal strings. */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : stableStringify(x))).join(',')}]`;
  if (isPlainObject(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** A hash of a value whose key order is stable (what one renderer produces): JSON as it is. */
export function hashOf(v: unknown): string {
  return sha256Hex(JSON.stringify(v)).slice(0, 32);
}

// crypto.hash (Node >= 20.12) is the one-shot digest without a Hash object: ~1.4x faster on the
// few-KiB documents hashed per reconcile. Older Node 20 releases take the Hash-object way.
const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'hex') => string }).hash;
const sha256Hex = oneShot
  ? (s: string) => oneShot('sha256', s, 'hex')
  : (s: string) => crypto.createHash('sha256').update(s).digest('hex');

export function clone<T>(v: T): T {
  return structuredClone(v);
}

/** True when every field set in `want` has the same value in `have` (extra fields in `have` are fine). */
export function isSubset(want: unknown, have: unknown): boolean {
  if (isPlainObject(want)) {
    if (!isPlainObject(have)) return false;
    for (const k of Object.keys(want)) {
      if (want[k] === undefined) continue;
      if (!isSubset(want[k], have[k])) return false;
    }
    return true;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(have) || have.length !== want.length) return false;
    for (let i = 0; i < want.length; i++) if (!isSubset(want[i], have[i])) return false;
    return true;
  }
  return deepEqual(want, have);
}
