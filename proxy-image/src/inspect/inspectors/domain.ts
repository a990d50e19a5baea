// Where a message may go: the egress allowlist or blocklist (entries may expire) and the ports.
import type { ProxyPolicy } from '../../../../operator/api/policy.ts';
import { hostMatches, normalizeHost } from '../domains.ts';
import { PolicyError } from '../settings.ts';
import type { Inspector, Message, Verdict } from '../types.ts';

interface Rule {
  domain: string;
  expiresAt?: number;
}

export function domainInspector(policy: ProxyPolicy): Inspector {
  const { mode, ports } = policy.egress;
  const rules: Rule[] = policy.egress.rules.map((r, i) => {
    if (r.expiresAt === undefined) return { domain: r.domain };
    const t = Date.parse(r.expiresAt);
    if (Number.isNaN(t))
      throw new PolicyError(
        `egress.rules[${i}].expiresAt`,
        `"${r.expiresAt}" is not an RFC 3339 time such as 2026-12-31T00:00:00Z`,
      );
    return { domain: r.domain, expiresAt: t };
  });
  const allowedPorts = new Set(ports);
  const block = (reason: string): Verdict => ({
    decision: 'block',
    inspector: 'domain',
    reason,
    severity: 'medium',
  });

  return {
    name: 'domain',
    inspect(msg: Message, ctx) {
      let host: string;
      if (msg.kind === 'request') {
        if (!allowedPorts.has(msg.port))
          return block(
            `port ${msg.port} is not one of this cage's egress ports (${[...allowedPorts].join(', ')})`,
          );
        host = msg.host;
      } else if (msg.kind === 'websocket') host = msg.host;
      else if (msg.kind === 'dns') host = msg.name;
      else return undefined;
      host = normalizeHost(host ?? '');
      if (!host) return block('the message names no destination host');
      const matching = rules.filter((r) => hostMatches(host, r.domain));
      const active = matching.find((r) => r.expiresAt === undefined || r.expiresAt > ctx.now);
      if (mode === 'allowlist') {
        if (active) return undefined;
        const expired = matching[0];
        if (expired?.expiresAt !== undefined)
          return block(
            `${host} was allowed until ${new Date(expired.expiresAt).toISOString()} (egress entry "${expired.domain}"); that entry has expired`,
          );
        return block(
          rules.length === 0
            ? `${host} is not allowed: this cage's egress allowlist is empty, so nothing may leave`
            : `${host} is not on this cage's egress allowlist`,
        );
      }
      if (active) return block(`${host} is on this cage's egress blocklist (entry "${active.domain}")`);
      return undefined;
    },
  };
}
