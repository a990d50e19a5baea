// Cage -> dnsmasq.conf for the cage's resolver (dnsmasq 2.90, dns-image/).
// Allowlist: only allowed names are forwarded; every other name gets the placeholder addresses for
// A and AAAA (without the IPv6 line dnsmasq answers AAAA with REFUSED). Blocklist: everything is
// forwarded except the blocked names. A domain covers its subdomains in both (dnsmasq's /d/ syntax).
import { isIPv4 } from 'node:net';
import { egressMode, type Cage } from '../api/cage.ts';
import { PORTS } from './contract.ts';
import { nowMs, RenderError, stillValid, type DnsmasqContext } from './context.ts';

export function renderDnsmasq(cage: Cage, ctx: DnsmasqContext = {}): string {
  const spec = cage.spec;
  const mode = egressMode(spec);
  const now = nowMs(ctx);
  const { upstreams, placeholderIPv4: ph4, placeholderIPv6: ph6 } = spec.dns;
  const port = ctx.port ?? PORTS.dns;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new RenderError('(context).port', `not a port: ${String(port)}`);
  for (const [what, ip] of [
    ['(context).proxyIP', ctx.proxyIP],
    ['(context).listenAddress', ctx.listenAddress],
  ] as const)
    if (ip !== undefined && !isIPv4(ip)) throw new RenderError(what, `not an IPv4 address: ${ip}`);
  // Transparent mode: allowed names may resolve to the proxy, which routes by Host / SNI.
  const toProxy = spec.proxy.mode === 'transparent' ? ctx.proxyIP : undefined;

  const lines = [
    `# dnsmasq for cage ${cage.metadata.name} (${mode}${toProxy ? ', transparent' : ''}), rendered by agentcage: do not edit`,
    `port=${port}`,
  ];
  if (ctx.listenAddress) lines.push(`listen-address=${ctx.listenAddress}`, 'bind-interfaces');
  // Never the host's resolv.conf or /etc/hosts: only what this file says.
  lines.push('no-resolv', 'no-hosts');
  if (spec.logging.dnsQueries) lines.push('log-queries');

  if (mode === 'allowlist') {
    const allowed = (spec.egress.allow ?? []).filter((d) => stillValid(cage, d, now));
    lines.push(allowed.length ? '# allowed names' : '# no allowed names: every name gets the placeholder');
    for (const d of allowed) {
      if (toProxy) lines.push(`address=/${d}/${toProxy}`);
      else for (const u of upstreams) lines.push(`server=/${d}/${u}`);
    }
    lines.push('# every other name', `address=/#/${ph4}`, `address=/#/${ph6}`);
  } else {
    const blocked = (spec.egress.block ?? []).filter((d) => stillValid(cage, d, now));
    lines.push('# upstream resolvers');
    for (const u of upstreams) lines.push(`server=${u}`);
    if (toProxy) lines.push('# every other name resolves to the proxy', `address=/#/${toProxy}`);
    lines.push(blocked.length ? '# blocked names' : '# no blocked names');
    for (const d of blocked) lines.push(`address=/${d}/${ph4}`, `address=/${d}/${ph6}`);
  }
  return lines.join('\n') + '\n';
}
