// The read-only `agentcage cage` verbs: list, show, logs, audit, har, verify.
import type { Command } from 'commander';
import { PATHS } from '../render/contract.ts';
import yaml from 'js-yaml';
import {
  countDecisions,
  FOLLOW_WIDTHS,
  formatAuditTable,
  formatTable,
  type AuditRecord,
} from '../controller/podman/audit.ts';
import { runAttached, podman } from '../controller/podman/exec.ts';
import { followAudit, readAudit } from '../controller/podman/observe.ts';
import type { Role } from '../controller/podman/plan.ts';
import { formatChecks, verifyCage, type ProbeTarget } from '../controller/podman/verify.ts';
import { controller, guarded } from './cage-common.ts';

const ROLES: Role[] = ['dns', 'proxy', 'agent'];

function auditContainers(ctl: ReturnType<typeof controller>, name: string): string[] {
  const rec = ctl.store.read(name);
  return [ctl.container(rec, 'proxy'), ctl.container(rec, 'dns')];
}

export function registerObserveVerbs(cage: Command): void {
  cage
    .command('list')
    .description('the cages on this machine')
    .option('-o, --output <format>', 'table or json', 'table')
    .action((o) =>
      guarded(async () => {
        const ctl = controller(true);
        const rows = [];
        for (const name of ctl.store.names()) {
          const rec = ctl.store.read(name);
          const pods = await ctl.podStates(rec);
          const running = pods.filter((p) => p.status === 'running').length;
          const status = running === pods.length ? 'Ready' : running === 0 ? 'Stopped' : 'Degraded';
          rows.push({
            name,
            status,
            pods: `${running}/${pods.length}`,
            network: rec.network,
            subnet: rec.subnet,
            created: rec.createdAt,
            podStates: pods,
          });
        }
        if (o.output === 'json') console.log(JSON.stringify(rows, null, 2));
        else if (rows.length === 0) console.log('no cages (create one with `agentcage cage create -c FILE`)');
        else
          console.log(
            formatTable(
              ['NAME', 'STATUS', 'PODS', 'NETWORK', 'SUBNET', 'CREATED'],
              rows.map((r) => [r.name, r.status, r.pods, r.network, r.subnet, r.created]),
            ),
          );
      }),
    );

  cage
    .command('show')
    .description('one cage: spec, pods, network, CA fingerprint, allowed/blocked counts')
    .argument('<name>')
    .option('-o, --output <format>', 'text or json', 'text')
    .action((name: string, o) =>
      guarded(async () => {
        const ctl = controller(true);
        const rec = ctl.store.read(name);
        const spec = ctl.cage(name).spec;
        const pods = await ctl.podStates(rec);
        const counts = countDecisions(await readAudit(auditContainers(ctl, name)));
        const plan = JSON.parse(ctl.store.readFile(name, 'rendered/plan.json'));
        const doc = {
          name,
          created: rec.createdAt,
          updated: rec.updatedAt,
          network: {
            name: rec.network,
            subnet: rec.subnet,
            bridge: rec.bridge,
            addresses: plan.addresses,
            egress: plan.egressNetwork,
          },
          pods,
          caFingerprint: rec.caFingerprint,
          decisions: counts,
          secrets: rec.secrets,
          state: ctl.store.dir(name),
          spec,
        };
        if (o.output === 'json') return void console.log(JSON.stringify(doc, null, 2));
        console.log(`cage ${name}  (created ${rec.createdAt}, updated ${rec.updatedAt})`);
        console.log(
          `network  ${rec.network} ${rec.subnet}, bridge ${rec.bridge}; dns ${plan.addresses.dns}, proxy ${plan.addresses.proxy}, agent ${plan.addresses.agent}; egress via ${plan.egressNetwork}`,
        );
        console.log(`CA       sha256 ${rec.caFingerprint}`);
        console.log(
          `requests ${
            Object.entries(counts)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ') || 'none yet'
          }`,
        );
        console.log('pods');
        console.log(
          formatTable(
            ['ROLE', 'POD', 'CONTAINER', 'STATUS'],
            pods.map((p) => [p.role, p.pod, p.container, p.status]),
          ).replace(/^/gm, '  '),
        );
        console.log('spec');
        console.log(yaml.dump(spec, { lineWidth: 120 }).trimEnd().replace(/^/gm, '  '));
      }),
    );

  cage
    .command('logs')
    .description("a pod's logs (the proxy's and dns's include their audit lines)")
    .argument('<name>')
    .option('--pod <role>', 'proxy, dns or agent', 'agent')
    .option('-f, --follow', 'keep printing new lines')
    .option('--tail <n>', 'only the last n lines')
    .action((name: string, o) =>
      guarded(async () => {
        if (!ROLES.includes(o.pod)) throw new Error(`--pod ${o.pod}: choose one of ${ROLES.join(', ')}`);
        const ctl = controller(true);
        const ctr = ctl.container(ctl.store.read(name), o.pod as Role);
        return runAttached('podman', [
          'logs',
          ...(o.follow ? ['-f'] : []),
          ...(o.tail ? ['--tail', o.tail] : []),
          ctr,
        ]);
      }),
    );

  cage
    .command('audit')
    .description('what the proxy and the resolver decided, one line per request, frame or query')
    .argument('<name>')
    .option('--decision <d>', 'only this decision (allowed, blocked, flagged, ...)')
    .option('--host <host>', 'only this host (and its subdomains)')
    .option('--since <time>', 'only since an RFC 3339 time or a duration back (30s, 10m, 2h)')
    .option('-f, --follow', 'keep printing new records')
    .option('--json', 'JSON lines instead of a table')
    .action((name: string, o) =>
      guarded(async () => {
        const ctl = controller(true);
        const containers = auditContainers(ctl, name);
        const filter = { decision: o.decision, host: o.host, since: o.since };
        if (o.follow) {
          const print = (r: AuditRecord) =>
            console.log(o.json ? JSON.stringify(r) : formatAuditTable([r], FOLLOW_WIDTHS).split('\n')[1]);
          if (!o.json) console.log(formatAuditTable([], FOLLOW_WIDTHS));
          const ac = new AbortController();
          process.once('SIGINT', () => ac.abort());
          await followAudit(containers, filter, print, ac.signal);
          return;
        }
        const records = await readAudit(containers, filter);
        if (o.json) for (const r of records) console.log(JSON.stringify(r));
        else console.log(records.length ? formatAuditTable(records) : 'no audit records match');
      }),
    );

  cage
    .command('har')
    .description('the HTTP flows the proxy captured, as HAR 1.2 (spec.capture.har must be true)')
    .argument('<name>')
    .action((name: string) =>
      guarded(async () => {
        const ctl = controller(true);
        if (!ctl.cage(name).spec.capture.har)
          throw new Error(
            `cage ${name} does not capture flows: set spec.capture.har: true and run agentcage cage update ${name} -c FILE`,
          );
        const ctr = ctl.container(ctl.store.read(name), 'proxy');
        const r = await podman(
          [
            'exec',
            ctr,
            '/usr/bin/node',
            '-e',
            `process.stdout.write(require('fs').readFileSync(${JSON.stringify(PATHS.harFile)}))`,
          ],
          { allowFail: true },
        );
        if (r.code !== 0)
          throw new Error(`no HAR capture in ${ctr} yet (${r.stderr.trim().split('\n').pop()})`);
        process.stdout.write(r.stdout);
      }),
    );

  cage
    .command('verify')
    .description(
      'active checks from inside the agent; PASS/FAIL each with what was tried; exits 1 on any FAIL',
    )
    .argument('<name>')
    .option(
      '--direct <host:port>',
      'an address a direct connection is tried to (repeatable; default the first DNS upstream)',
      (v: string, p: string[]) => [...p, v],
      [],
    )
    .option('--json', 'JSON lines')
    .action((name: string, o) =>
      guarded(async () => {
        const ctl = controller(true);
        const direct: ProbeTarget[] | undefined = o.direct.length
          ? o.direct.map((d: string) => {
              const i = d.lastIndexOf(':');
              const port = Number(d.slice(i + 1));
              if (i <= 0 || !Number.isInteger(port)) throw new Error(`--direct ${d}: give HOST:PORT`);
              return { host: d.slice(0, i), port, what: 'given with --direct' };
            })
          : undefined;
        const results = await verifyCage(ctl, name, { direct });
        if (o.json) for (const r of results) console.log(JSON.stringify(r));
        else console.log(formatChecks(results));
        const failed = results.filter((r) => !r.ok).length;
        if (!o.json) console.log(`\n${results.length - failed} passed, ${failed} failed`);
        return failed ? 1 : 0;
      }),
    );
}
