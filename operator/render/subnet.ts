// Picks a cage network's subnet: a /24 from a pool that overlaps no subnet already in use. Pure and
// stable: the start point comes from the cage's name, so other cages coming and going do not move it.
import { RenderError } from './context.ts';

export const DEFAULT_SUBNET_POOL = '10.213.0.0/16';

interface V4Range {
  start: number;
  end: number; // inclusive
}

function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** An IPv4 CIDR as a range; undefined for anything else (IPv6 subnets never collide with ours). */
export function parseCidr(cidr: string): V4Range | undefined {
  const [ip, len] = cidr.split('/');
  const base = ipToInt(ip);
  const bits = len === undefined ? 32 : Number(len);
  if (base === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return undefined;
  const size = 2 ** (32 - bits);
  const start = base - (base % size);
  return { start, end: start + size - 1 };
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export interface CageSubnet {
  subnet: string;
  gateway: string;
  dns: string;
  proxy: string;
  agent: string;
}

/** The fixed addresses inside a cage's /24: gateway .1, dns .2, proxy .3, agent .4. */
export function cageAddresses(subnet: string): CageSubnet {
  const r = parseCidr(subnet);
  if (!r || r.end - r.start < 7)
    throw new RenderError('(context).subnet', `not an IPv4 subnet of /29 or larger: ${subnet}`);
  return {
    subnet: `${intToIp(r.start)}/${32 - Math.log2(r.end - r.start + 1)}`,
    gateway: intToIp(r.start + 1),
    dns: intToIp(r.start + 2),
    proxy: intToIp(r.start + 3),
    agent: intToIp(r.start + 4),
  };
}

export function pickSubnet(name: string, usedSubnets: string[] = [], pool = DEFAULT_SUBNET_POOL): CageSubnet {
  const p = parseCidr(pool);
  if (!p || p.end - p.start + 1 < 256)
    throw new RenderError('(context).subnetPool', `not an IPv4 pool of /24 or larger: ${pool}`);
  const used = usedSubnets.map(parseCidr).filter((r): r is V4Range => r !== undefined);
  const count = (p.end - p.start + 1) / 256;
  const first = fnv1a(name) % count;
  for (let i = 0; i < count; i++) {
    const start = p.start + ((first + i) % count) * 256;
    const end = start + 255;
    if (!used.some((u) => u.start <= end && start <= u.end)) return cageAddresses(`${intToIp(start)}/24`);
  }
  throw new RenderError(
    '(context).usedSubnets',
    `every /24 of ${pool} is in use: remove a cage or give another subnetPool`,
  );
}
