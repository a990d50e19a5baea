// Host-to-domain matching, one rule for the whole inspector library: a domain matches itself and
// every subdomain ("github.com" matches "api.github.com", never "evilgithub.com").

export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h;
}

export function hostMatches(host: string, domain: string): boolean {
  const h = normalizeHost(host);
  const d = normalizeHost(domain);
  return h === d || (h.length > d.length && h.endsWith(d) && h.charCodeAt(h.length - d.length - 1) === 46);
}

export function hostMatchesAny(host: string, domains: readonly string[]): boolean {
  for (const d of domains) if (hostMatches(host, d)) return true;
  return false;
}

/** The entry of `table` whose key is the most specific domain matching host, if any. */
export function mostSpecific<T>(host: string, table: Record<string, T>): T | undefined {
  let best: string | undefined;
  for (const d of Object.keys(table)) {
    if (hostMatches(host, d) && (best === undefined || d.length > best.length)) best = d;
  }
  return best === undefined ? undefined : table[best];
}
