// SSRF guard: decides whether the proxy may open a connection to one resolved address.
// Checked on the address actually connected to (after DNS), so a name that resolves (or
// re-resolves) to an internal address cannot get around it. Pure: no I/O.
import { BlockList, isIP } from 'node:net';

/** Ranges that are never the public internet: [cidr, what it is]. */
const DENIED_V4: Array<[string, number, string]> = [
  ['0.0.0.0', 8, 'this-network'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'cgnat'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'], // includes the 169.254.169.254 metadata address
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'ietf-protocol'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];
const DENIED_V6: Array<[string, number, string]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['100::', 64, 'discard'],
  ['2001:db8::', 32, 'documentation'],
  ['fc00::', 7, 'unique-local'], // includes fd00:ec2::254, the IPv6 metadata address
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
];

const denied: Array<{ list: BlockList; what: string }> = [];
for (const [net, prefix, what] of DENIED_V4) {
  const list = new BlockList();
  list.addSubnet(net, prefix, 'ipv4');
  denied.push({ list, what });
}
for (const [net, prefix, what] of DENIED_V6) {
  const list = new BlockList();
  list.addSubnet(net, prefix, 'ipv6');
  denied.push({ list, what });
}

/** IPv4 carried inside IPv6 (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, compat ::a.b.c.d): the IPv4 it names. */
export function embeddedIPv4(ip: string): string | undefined {
  const lower = ip.toLowerCase();
  const m = /^(?:::ffff:|64:ff9b::|::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (m) return m[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const hi = parseInt(hex[1], 16);
    const lo = parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/** Dotted quad to an unsigned 32-bit number (undefined when it is not one). */
function ipv4ToInt(ip: string): number | undefined {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return undefined;
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return undefined;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return n * 256 + part;
}

/** The IPv4 table as [network, mask, what] integers: the per-connection check is a few comparisons. */
const DENIED_V4_INT: Array<[number, number, string]> = DENIED_V4.map(([net, prefix, what]) => {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [(ipv4ToInt(net)! & mask) >>> 0, mask, what];
});

/** Why an address is not public ('loopback', 'private', ...), or undefined when it is. */
export function classifyAddress(ip: string): string | undefined {
  const v4 = ipv4ToInt(ip);
  if (v4 !== undefined) {
    for (const [net, mask, what] of DENIED_V4_INT) if ((v4 & mask) >>> 0 === net) return what;
    return undefined;
  }
  const family = isIP(ip);
  if (family === 0) return 'not-an-ip';
  if (family === 6) {
    const v4 = embeddedIPv4(ip);
    if (v4 !== undefined) return classifyAddress(v4);
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const d of denied) if (d.list.check(ip, type)) return d.what;
  return undefined;
}

/** Parses CIDRs into a BlockList; throws naming the entry (`where(i)`) that does not parse. */
export function parseCidrs(cidrs: readonly string[], where: (i: number) => string): BlockList {
  const list = new BlockList();
  cidrs.forEach((c, i) => {
    const m = /^([0-9a-fA-F.:]+)\/(\d{1,3})$/.exec(c.trim());
    const family = m ? isIP(m[1]) : 0;
    const prefix = m ? Number(m[2]) : NaN;
    if (!m || family === 0 || prefix > (family === 4 ? 32 : 128)) {
      throw new Error(
        `${where(i)}: "${c}" is not a CIDR such as "127.0.0.0/8" or "fd00::/8": fix or remove it`,
      );
    }
    list.addSubnet(m[1], prefix, family === 4 ? 'ipv4' : 'ipv6');
  });
  return list;
}

/** Parses policy.ssrf.allowCidrs; throws naming the entry that does not parse. */
export function parseAllowCidrs(cidrs: readonly string[]): BlockList {
  return parseCidrs(cidrs, (i) => `ssrf.allowCidrs[${i}]`);
}

export class SsrfGuard {
  // Verdicts per address: the same few upstream addresses are checked on every request.
  private readonly cache = new Map<string, string | undefined>();

  constructor(private readonly allow: BlockList) {}

  static fromCidrs(cidrs: readonly string[]): SsrfGuard {
    return new SsrfGuard(parseAllowCidrs(cidrs));
  }

  /** undefined when the proxy may connect to `ip`; otherwise why not. */
  check(ip: string): string | undefined {
    if (this.cache.has(ip)) return this.cache.get(ip);
    const verdict = this.decide(ip);
    if (this.cache.size >= 4096) this.cache.clear();
    this.cache.set(ip, verdict);
    return verdict;
  }

  private decide(ip: string): string | undefined {
    const what = classifyAddress(ip);
    if (what === undefined) return undefined;
    const family = isIP(ip);
    if (family === 0) return what;
    if (this.allow.check(ip, family === 4 ? 'ipv4' : 'ipv6')) return undefined;
    const v4 = family === 6 ? embeddedIPv4(ip) : undefined;
    if (v4 !== undefined && this.allow.check(v4, 'ipv4')) return undefined;
    return `${ip} is a ${what} address (not allowed by policy ssrf.allowCidrs)`;
  }
}
