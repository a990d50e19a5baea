// cage verify: active checks that the cage holds, each with what was tried and what happened.
// Network checks run in the agent's network namespace (a probe container joined to it, with no
// capabilities); process checks read the agent process itself through /proc on the host; host
// checks look at the firewall rules and the proxy's and dns's FORWARD policy.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { egressMode, type Cage } from '../../api/cage.ts';
import { PORTS } from '../../render/contract.ts';
import type { CageSubnet } from '../../render/subnet.ts';
import type { PodmanController } from './controller.ts';
import { podman, run } from './exec.ts';
import { hostRules, missingHostRules } from './hostfw.ts';
import type { CageRecord } from './state.ts';

export interface CheckResult {
  check: string;
  ok: boolean;
  tried: string;
  result: string;
}

export interface ProbeTarget {
  host: string;
  port: number;
  what: string;
}

export interface ProbeConfig {
  proxy: { host: string; port: number };
  resolver: string;
  placeholderIPv4: string;
  placeholderIPv6: string;
  blockedName: string;
  secretHost: string;
  direct: ProbeTarget[];
  hostServices: ProbeTarget[];
  caFile: string;
  timeoutMs?: number;
}

export const PROBE_FILE = fileURLToPath(new URL('./verify-probe.mjs', import.meta.url));

/** TCP ports the host listens on for every address or for `also` ("0A" = LISTEN in /proc/net/tcp*). */
export function listeningPorts(procNetTcp: string, also: string[] = []): number[] {
  const ports = new Set<number>();
  const wanted = new Set(['00000000', '00000000000000000000000000000000', ...also]);
  for (const line of procNetTcp.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== '0A') continue;
    const [addr, port] = f[1].split(':');
    if (wanted.has(addr)) ports.add(parseInt(port, 16));
  }
  return [...ports].sort((a, b) => a - b);
}

/** /proc/net/tcp writes an IPv4 address as little-endian hex. */
export function procHexV4(ip: string): string {
  return ip
    .split('.')
    .reverse()
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
}

/** Pure: the probe's targets and names for one cage. */
export function probeConfig(
  cage: Cage,
  addr: CageSubnet,
  opts: { hostPorts: number[]; linkLocal?: string; direct?: ProbeTarget[]; random?: string },
): ProbeConfig {
  const rnd = opts.random ?? randomBytes(4).toString('hex');
  const mode = egressMode(cage.spec);
  const blockedName =
    mode === 'blocklist' && cage.spec.egress.block?.length
      ? `agentcage-verify-${rnd}.${cage.spec.egress.block[0]}`
      : `agentcage-verify-${rnd}.invalid`;
  const allowed = cage.spec.egress.allow ?? [];
  const secretHost = mode === 'allowlist' && allowed.length ? allowed[0] : blockedName;
  const upstream = cage.spec.dns.upstreams[0].split('#')[0];
  const direct = opts.direct ?? [
    { host: upstream, port: 443, what: 'the first DNS upstream, HTTPS port' },
    { host: upstream, port: 53, what: 'the first DNS upstream, DNS over TCP' },
  ];
  const ports = opts.hostPorts.length ? opts.hostPorts.slice(0, 12) : [22];
  const hostServices: ProbeTarget[] = ports.map((port) => ({
    host: addr.gateway,
    port,
    what: 'host service via the bridge gateway',
  }));
  if (opts.linkLocal)
    for (const port of ports)
      hostServices.push({ host: `${opts.linkLocal}%eth0`, port, what: 'host service via IPv6 link-local' });
  return {
    proxy: { host: addr.proxy, port: PORTS.proxy },
    resolver: addr.dns,
    placeholderIPv4: cage.spec.dns.placeholderIPv4,
    placeholderIPv6: cage.spec.dns.placeholderIPv6,
    blockedName,
    secretHost,
    direct,
    hostServices,
    caFile: '/verify/ca.crt',
  };
}

interface ProcStatus {
  [k: string]: string;
}

function procStatus(pid: number): ProcStatus {
  const out: ProcStatus = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function environ(pid: number): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) m.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return m;
}

/** Pure: the process-level checks from what /proc says about the agent. */
export function processChecks(
  status: ProcStatus,
  mounts: string,
  env: Map<string, string>,
  realValues: string[],
  placeholders: Record<string, string>,
): CheckResult[] {
  const out: CheckResult[] = [];
  const caps = ['CapInh', 'CapPrm', 'CapEff', 'CapAmb'].map((k) => `${k}=${status[k] ?? '?'}`);
  const zero = ['CapInh', 'CapPrm', 'CapEff', 'CapAmb'].every((k) => /^0+$/.test(status[k] ?? 'x'));
  out.push({
    check: 'capabilities are zero',
    ok: zero,
    tried: 'the agent process /proc/PID/status',
    result: `${caps.join(' ')} CapBnd=${status.CapBnd ?? '?'}`,
  });
  out.push({
    check: 'no-new-privileges set',
    ok: status.NoNewPrivs === '1',
    tried: 'the agent process /proc/PID/status',
    result: `NoNewPrivs=${status.NoNewPrivs ?? '?'} Seccomp=${status.Seccomp ?? '?'}`,
  });
  const root = mounts
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[1] === '/')
    .pop();
  const ro = root?.[3]?.split(',').includes('ro') ?? false;
  out.push({
    check: 'root filesystem read-only',
    ok: ro,
    tried: 'the agent process /proc/PID/mounts, entry for /',
    result: root ? `${root[2]} ${root[3].split(',').slice(0, 2).join(',')}` : 'no root mount found',
  });
  const leaks = [...env]
    .filter(([, v]) => realValues.some((real) => real.length >= 4 && v.includes(real)))
    .map(([k]) => k);
  const wrong = Object.entries(placeholders)
    .filter(([k, v]) => env.get(k) !== v)
    .map(([k]) => k);
  out.push({
    check: 'the agent holds no real secret value',
    ok: leaks.length === 0 && wrong.length === 0 && realValues.length === Object.keys(placeholders).length,
    tried: `the agent's environment (${env.size} variables) against the ${realValues.length} real value(s) the proxy holds`,
    result:
      leaks.length > 0
        ? `REAL VALUE in ${leaks.join(', ')}`
        : wrong.length > 0
          ? `not the placeholder: ${wrong.join(', ')}`
          : realValues.length !== Object.keys(placeholders).length
            ? `found ${realValues.length} of ${Object.keys(placeholders).length} real values in the proxy`
            : `no real value; ${Object.keys(placeholders).length} secret variable(s) hold their placeholder`,
  });
  return out;
}

export async function verifyCage(
  ctl: PodmanController,
  name: string,
  opts: { direct?: ProbeTarget[]; probeImage?: string } = {},
): Promise<CheckResult[]> {
  const rec: CageRecord = ctl.store.read(name);
  const cage = ctl.cage(name);
  const plan = JSON.parse(ctl.store.readFile(name, 'rendered/plan.json')) as { addresses: CageSubnet };
  const addr = plan.addresses;
  const results: CheckResult[] = [];
  const agentCtr = ctl.container(rec, 'agent');
  const proxyCtr = ctl.container(rec, 'proxy');
  const dnsCtr = ctl.container(rec, 'dns');
  const agent = await ctl.containerState(agentCtr);
  const proxy = await ctl.containerState(proxyCtr);
  const dns = await ctl.containerState(dnsCtr);
  for (const [what, st] of [
    ['agent', agent],
    ['proxy', proxy],
    ['dns', dns],
  ] as const)
    results.push({
      check: `${what} pod running`,
      ok: !!st?.Running,
      tried: `podman inspect ${what}`,
      result: st ? st.Status : 'missing',
    });
  if (!agent?.Running) return results;

  // ---- the agent process ----
  const realValues: string[] = [];
  if (proxy?.Running) {
    for (const [k, v] of environ(proxy.Pid)) if (k.startsWith('AGENTCAGE_SECRET_')) realValues.push(v);
  }
  results.push(
    ...processChecks(
      procStatus(agent.Pid),
      readFileSync(`/proc/${agent.Pid}/mounts`, 'utf8'),
      environ(agent.Pid),
      realValues,
      Object.fromEntries(cage.spec.secrets.map((s) => [s.name, s.placeholder ?? rec.placeholders[s.name]])),
    ),
  );
  const resolv = readFileSync(`/proc/${agent.Pid}/root/etc/resolv.conf`, 'utf8');
  const servers = [...resolv.matchAll(/^nameserver\s+(\S+)/gm)].map((m) => m[1]);
  results.push({
    check: "the agent's resolver is the cage's dnsmasq (not aardvark)",
    ok: servers.length === 1 && servers[0] === addr.dns,
    tried: "the agent's /etc/resolv.conf",
    result: `nameserver ${servers.join(', ') || '(none)'} (want ${addr.dns})`,
  });

  // ---- host side ----
  if (rec.bridge) {
    const missing = await missingHostRules(hostRules(name, rec.bridge));
    results.push({
      check: 'host firewall rules for the cage bridge',
      ok: missing.length === 0,
      tried: `iptables/ip6tables -C on INPUT and FORWARD for ${rec.bridge}`,
      result: missing.length
        ? `missing: ${missing.map((r) => `${r.cmd} ${r.rule.join(' ')}`).join('; ')}`
        : '4 rules present',
    });
  }
  for (const [what, st] of [
    ['proxy', proxy],
    ['dns', dns],
  ] as const) {
    if (!st?.Running) continue;
    const r = await run('nsenter', ['-t', String(st.Pid), '-n', 'iptables', '-w', '5', '-S', 'FORWARD'], {
      allowFail: true,
    });
    results.push({
      check: `the ${what} pod does not route for the agent`,
      ok: /^-P FORWARD DROP$/m.test(r.stdout),
      tried: `iptables -S FORWARD in the ${what} pod's network namespace`,
      result: r.stdout.split('\n')[0] || r.stderr.trim(),
    });
  }

  // ---- from inside the agent's network namespace ----
  const hostPorts = listeningPorts(
    readFileSync('/proc/net/tcp', 'utf8') +
      (existsSync('/proc/net/tcp6') ? readFileSync('/proc/net/tcp6', 'utf8') : ''),
    [procHexV4(addr.gateway)],
  );
  let linkLocal: string | undefined;
  if (rec.bridge) {
    const r = await run('ip', ['-6', '-o', 'addr', 'show', 'dev', rec.bridge, 'scope', 'link'], {
      allowFail: true,
    });
    linkLocal = /inet6 (fe80::[0-9a-f:]+)/.exec(r.stdout)?.[1];
  }
  const cfg = probeConfig(cage, addr, { hostPorts, linkLocal, direct: opts.direct });
  const probe = await podman(
    [
      'run', '--rm', '--pull=never', '--pod', rec.pods.find((p) => p.role === 'agent')!.name,
      '--user', '65534:65534', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--read-only',
      '-v', `${PROBE_FILE}:/verify/probe.mjs:ro`, '-v', `${ctl.store.path(name, 'ca/ca.crt')}:/verify/ca.crt:ro`,
      '--entrypoint', '/usr/bin/node', opts.probeImage ?? 'localhost/agentcage-proxy:dev',
      '/verify/probe.mjs', JSON.stringify(cfg),
    ], // prettier-ignore
    { allowFail: true, timeoutMs: 120_000 },
  );
  for (const line of probe.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      results.push(JSON.parse(line) as CheckResult);
    } catch {
      results.push({ check: 'probe output', ok: false, tried: 'parsing the probe', result: line });
    }
  }
  if (probe.code !== 0 || !probe.stdout.trim())
    results.push({
      check: 'network probe ran',
      ok: false,
      tried: 'the probe container in the agent network',
      result: (probe.stderr || `exit ${probe.code}`).trim().slice(0, 300),
    });
  return results;
}

export function formatChecks(results: CheckResult[]): string {
  return results
    .map((r) => `${r.ok ? 'PASS' : 'FAIL'}  ${r.check}\n      tried: ${r.tried}\n      got:   ${r.result}`)
    .join('\n');
}
