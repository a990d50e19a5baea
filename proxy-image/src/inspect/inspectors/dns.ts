// DNS tunnelling: data smuggled out in query names. Labels that are long, dense or hex/base32 runs,
// and too many different names under one domain within a window (the window state lives here).
import { stringEntropy } from '../entropy.ts';
import { mask } from '../mask.ts';
import type { InspectorSettings } from '../settings.ts';
import type { Inspector, Message, Verdict } from '../types.ts';

/** Longest subdomain part (everything left of the registrable domain) a normal name has. */
export const MAX_SUBDOMAIN_CHARS = 120;
const MAX_TRACKED_DOMAINS = 10000;
const SECOND_LEVEL = new Set(['co', 'com', 'net', 'org', 'gov', 'edu', 'ac', 'or', 'ne', 'go', 'gob', 'nic']);

/** The registrable domain of a name, approximated without the public-suffix list. */
export function baseDomain(name: string): string {
  const labels = name.split('.');
  if (labels.length <= 2) return name;
  const n = labels.length;
  const take = labels[n - 1].length === 2 && SECOND_LEVEL.has(labels[n - 2]) ? 3 : 2;
  return labels.slice(-take).join('.');
}

function looksEncoded(label: string): string | undefined {
  if (label.length >= 24 && /^[0-9a-f]+$/.test(label) && /[0-9]/.test(label) && /[a-f]/.test(label))
    return 'a hex run';
  if (label.length >= 24 && /^[a-z2-7]+$/.test(label) && (label.match(/[2-7]/g)?.length ?? 0) >= 3)
    return 'a base32 run';
  return undefined;
}

export function dnsInspector(settings: InspectorSettings): Inspector {
  const d = settings.dns;
  // base domain -> (full name -> last seen, ms); Map order is last-seen order.
  const windows = new Map<string, Map<string, number>>();
  const verdict = (reason: string): Verdict => ({
    decision: 'block',
    inspector: 'dns',
    severity: 'high',
    reason,
  });

  function record(base: string, name: string, now: number): number {
    let seen = windows.get(base);
    if (!seen) {
      if (windows.size >= MAX_TRACKED_DOMAINS) windows.delete(windows.keys().next().value as string);
      seen = new Map();
    } else windows.delete(base);
    windows.set(base, seen);
    const horizon = now - d.windowSeconds * 1000;
    for (const [n, t] of seen) {
      if (t > horizon) break;
      seen.delete(n);
    }
    if (seen.has(name)) seen.delete(name);
    else if (seen.size > d.maxUniqueSubdomains) return seen.size + 1; // full: count it, keep memory bounded
    seen.set(name, now);
    return seen.size;
  }

  return {
    name: 'dns',
    inspect(msg: Message, ctx) {
      if (!d.enabled || msg.kind !== 'dns') return undefined;
      const name = msg.name.toLowerCase().replace(/\.$/, '');
      const base = baseDomain(name);
      if (name === base) return undefined;
      const sub = name.slice(0, name.length - base.length - 1);
      const unique = record(base, name, ctx.now);
      for (const label of sub.split('.')) {
        if (label.length > d.maxLabelLength)
          return verdict(
            `the query ${mask(name)} has a ${label.length}-character label (limit ${d.maxLabelLength}): it looks like data tunnelled through DNS`,
          );
        const enc = looksEncoded(label);
        if (enc)
          return verdict(
            `a label of the query for ${base} is ${enc} (${mask(label)}): it looks like data tunnelled through DNS`,
          );
        const bits = stringEntropy(label);
        if (bits > d.labelEntropyThreshold)
          return verdict(
            `a label of the query for ${base} (${mask(label)}) has ${bits.toFixed(2)} bits of entropy per character, above the ${d.labelEntropyThreshold} limit: it looks like data tunnelled through DNS`,
          );
      }
      if (sub.length > MAX_SUBDOMAIN_CHARS)
        return verdict(
          `the query for ${base} has ${sub.length} characters before the domain (limit ${MAX_SUBDOMAIN_CHARS})`,
        );
      if (unique > d.maxUniqueSubdomains)
        return verdict(
          `more than ${d.maxUniqueSubdomains} different names under ${base} were queried within ${d.windowSeconds} s: it looks like data tunnelled through DNS`,
        );
      return undefined;
    },
  };
}
