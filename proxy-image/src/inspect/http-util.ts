// Small facts about HTTP messages the inspectors share.
import type { HeaderPair } from './types.ts';

export function header(headers: readonly HeaderPair[], name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [n, v] of headers) if (n.toLowerCase() === lower) return v;
  return undefined;
}

/** "application/json; charset=utf-8" -> "application/json" (lower case), '' when absent. */
export function mediaType(headers: readonly HeaderPair[]): string {
  const v = header(headers, 'content-type');
  if (!v) return '';
  const semi = v.indexOf(';');
  return (semi < 0 ? v : v.slice(0, semi)).trim().toLowerCase();
}

const TEXTUAL =
  /^(?:text\/|application\/(?:json|x-www-form-urlencoded|xml|javascript|ecmascript|graphql|x-ndjson|ld\+json|yaml|x-yaml|toml)$|application\/[a-z0-9.+-]*\+(?:json|xml)$)/;

export function isTextual(media: string): boolean {
  return TEXTUAL.test(media);
}

export function formatBytes(n: number): string {
  return `${n.toLocaleString('en-US')} bytes`;
}
