// `agentcage cage ...`: local cages on podman (create, list, show, update, logs, audit, har, shell,
// exec, destroy, verify). Registered in main.ts with one line: program.addCommand(cageCommand()).
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { parseSecretArgs } from '../controller/podman/plan.ts';
import { controller, guarded } from './cage-common.ts';
import { registerObserveVerbs } from './cage-observe.ts';
import { registerAccessVerbs } from './cage-access.ts';

const collect = (v: string, prev: string[]) => [...prev, v];

function readText(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function parseHosts(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of list) {
    const [host, ip] = e.split('=');
    if (!host || !ip) throw new Error(`--proxy-host ${e}: give NAME=IP, e.g. api.example.test=10.89.1.2`);
    out[host.toLowerCase()] = ip;
  }
  return out;
}

export function cageCommand(): Command {
  const cage = new Command('cage').description(
    'local cages on podman: one agent, its proxy and its resolver',
  );

  cage
    .command('create')
    .description('validate, render and start a cage (dns, proxy, agent), waiting until each is ready')
    .requiredOption('-c, --config <file>', 'the Cage YAML (- for stdin)')
    .option('-s, --secret <NAME=VALUE>', 'the real value of a declared secret (repeatable)', collect, [])
    .option(
      '--upstream-ca <file>',
      'PEM CA the proxy also trusts for upstream TLS (a private or stand-in upstream)',
    )
    .option(
      '--allow-private <cidr>',
      'private CIDR the proxy may connect to (a stand-in upstream; repeatable)',
      collect,
      [],
    )
    .option('--proxy-host <NAME=IP>', 'a name the proxy resolves to IP without DNS (repeatable)', collect, [])
    .option('--timeout <seconds>', 'how long to wait for each pod to be ready', '60')
    .action((o) =>
      guarded(async () => {
        const t0 = Date.now();
        const ctl = controller();
        const rec = await ctl.create({
          text: readText(o.config),
          source: o.config,
          secrets: parseSecretArgs(o.secret),
          options: {
            ...(o.upstreamCa ? { upstreamCaFile: o.upstreamCa } : {}),
            ...(o.allowPrivate.length ? { allowPrivateCidrs: o.allowPrivate } : {}),
            ...(o.proxyHost.length ? { proxyHosts: parseHosts(o.proxyHost) } : {}),
          },
          readyTimeoutS: Number(o.timeout),
        });
        console.log(`\ncage ${rec.name} is ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        console.log(`  network  ${rec.network} ${rec.subnet} (internal; bridge ${rec.bridge})`);
        for (const p of rec.pods) console.log(`  pod      ${p.name} (${p.role})`);
        console.log(`  secrets  ${rec.secrets.join(', ')}`);
        console.log(`  CA       sha256 ${rec.caFingerprint}`);
        console.log(`  state    ${ctl.store.dir(rec.name)}`);
        console.log(
          `next: agentcage cage verify ${rec.name} | cage shell ${rec.name} | cage audit ${rec.name}`,
        );
      }),
    );

  cage
    .command('update')
    .description(
      're-render a cage from a changed file and replace the pods that changed (a bad file changes nothing)',
    )
    .argument('<name>')
    .requiredOption('-c, --config <file>', 'the Cage YAML (- for stdin)')
    .option('-s, --secret <NAME=VALUE>', 'a new or changed real value (repeatable)', collect, [])
    .action((name: string, o) =>
      guarded(async () => {
        const changed = await controller().update(
          name,
          readText(o.config),
          o.config,
          parseSecretArgs(o.secret),
        );
        console.log(
          changed.length ? `cage ${name} updated: ${changed.join(', ')}` : `cage ${name}: nothing changed`,
        );
      }),
    );

  cage
    .command('destroy')
    .description('remove a cage: pods, network, host rules, podman secrets, volumes and its state')
    .argument('<name>')
    .action((name: string) =>
      guarded(async () => {
        const removed = await controller().destroy(name);
        console.log(`cage ${name} destroyed: ${removed.join(', ') || 'nothing was left'}`);
      }),
    );

  registerObserveVerbs(cage);
  registerAccessVerbs(cage);
  return cage;
}
