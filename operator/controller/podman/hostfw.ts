// Host firewall rules that close what an --internal podman network leaves open (see
// shared/notes/podman-dnsmasq-here.md): the host answers on the cage bridge (its IPv4 gateway
// when there is one, always its IPv6 link-local address), and the host would route traffic that
// enters from the cage bridge to anywhere else. Two rules per family, matched by interface name
// (so they keep holding when netavark deletes and recreates the bridge), tagged with the cage's
// name so destroy removes exactly these.
import { run } from './exec.ts';

export type Family = 'iptables' | 'ip6tables';

export interface HostRule {
  cmd: Family;
  /** The rule without the -I/-C/-D verb: chain first. */
  rule: string[];
  why: string;
}

export function ruleComment(cage: string): string {
  return `agentcage:${cage}`;
}

/** Pure: the rules that cage `cage` on bridge `bridge` needs. */
export function hostRules(cage: string, bridge: string): HostRule[] {
  const tag = ['-m', 'comment', '--comment', ruleComment(cage)];
  const out: HostRule[] = [];
  for (const cmd of ['iptables', 'ip6tables'] as const) {
    out.push({
      cmd,
      rule: ['INPUT', '-i', bridge, ...tag, '-j', 'REJECT'],
      why: `no host service is reachable from the cage bridge ${bridge} (${cmd === 'iptables' ? 'IPv4 gateway' : 'IPv6 link-local'})`,
    });
    out.push({
      cmd,
      rule: ['FORWARD', '-i', bridge, '!', '-o', bridge, ...tag, '-j', 'REJECT'],
      why: `the host routes nothing from the cage bridge ${bridge} to other networks (${cmd})`,
    });
  }
  return out;
}

async function present(r: HostRule): Promise<boolean> {
  return (await run(r.cmd, ['-w', '5', '-C', ...r.rule], { allowFail: true })).code === 0;
}

/** Inserts each missing rule at the top of its chain (ahead of netavark's ACCEPTs). */
export async function applyHostRules(rules: HostRule[]): Promise<void> {
  for (const r of rules) if (!(await present(r))) await run(r.cmd, ['-w', '5', '-I', ...r.rule]);
}

export async function removeHostRules(rules: HostRule[]): Promise<void> {
  for (const r of rules) {
    // -D removes one copy; repeat in case an interrupted create inserted it twice.
    for (let i = 0; i < 5 && (await present(r)); i++)
      await run(r.cmd, ['-w', '5', '-D', ...r.rule], { allowFail: true });
  }
}

/** The rules of `rules` that are missing from the host (cage verify, cage show). */
export async function missingHostRules(rules: HostRule[]): Promise<HostRule[]> {
  const out: HostRule[] = [];
  for (const r of rules) if (!(await present(r))) out.push(r);
  return out;
}
