// Host names as the proxy compares them. Pure.
import { isIP } from 'node:net';

/** Lower case, no trailing dot, no IPv6 brackets. */
export function normalizeHost(host: string): string {
  let h = host;
  if (h.charCodeAt(0) === 91 /* [ */ && h.charCodeAt(h.length - 1) === 93) h = h.slice(1, -1);
  if (h.charCodeAt(h.length - 1) === 46 /* . */) h = h.slice(0, -1);
  return h.toLowerCase();
}

/** A listed domain matches itself and its subdomains (as in the Cage schema). */
export function domainMatches(host: string, domain: string): boolean {
  if (host === domain) return true;
  return (
    host.length > domain.length && host.endsWith(domain) && host[host.length - domain.length - 1] === '.'
  );
}

export function matchesAny(host: string, domains: readonly string[]): boolean {
  for (const d of domains) if (domainMatches(host, d)) return true;
  return false;
}

/** The value of the most specific entry of a host -> value record that matches `host`. */
export function lookupPerHost<T>(record: Readonly<Record<string, T>>, host: string): T | undefined {
  let best: string | undefined;
  for (const d of Object.keys(record)) {
    if (domainMatches(host, d) && (best === undefined || d.length > best.length)) best = d;
  }
  return best === undefined ? undefined : record[best];
}

/** Could this be sent as a host name or address on the wire? Refuses anything with odd bytes. */
export function isValidHost(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  if (isIP(host) !== 0) return true;
  return /^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/.test(host);
}
