// `agentcage render -c FILE --target podman|kubernetes`: what a cage runs as, on stdout, without
// running it. Values only a controller knows (Service IPs, the CA) are left as documented stand-ins.
import { Option, type Command } from 'commander';
import { parseCageYaml } from '../api/load.ts';
import { resolvePlaceholders } from '../api/placeholders.ts';
import {
  renderKubernetes,
  renderPodman,
  RenderError,
  toYamlDocuments,
  AWAITING_IP,
} from '../render/index.ts';
import { CliError, problemsError, readInput } from './io.ts';

interface RenderOptions {
  config: string;
  target: 'podman' | 'kubernetes';
  namespace?: string;
}

export function registerRender(program: Command): void {
  program
    .command('render')
    .description('print the objects a cage runs as: multi-document YAML on stdout')
    .requiredOption('-c, --config <file>', 'the Cage YAML (- for stdin)')
    .addOption(
      new Option('-t, --target <target>', 'what to render for')
        .choices(['podman', 'kubernetes'])
        .makeOptionMandatory(),
    )
    .option('-n, --namespace <ns>', 'Kubernetes namespace (default: metadata.namespace, else "default")')
    .action((o: RenderOptions) => {
      const r = parseCageYaml(readInput(o.config));
      if (!r.ok) throw problemsError(r.problems);
      const cage = r.cage;
      const note = (s: string) => process.stderr.write(`note: ${s}\n`);

      // Placeholders: the spec's own, else fresh ones, said out loud (a controller keeps them).
      const placeholders = resolvePlaceholders(cage);
      cage.spec.secrets.forEach((s, i) => {
        if (!s.placeholder)
          note(
            `spec.secrets[${i}] ${s.name}: no placeholder in the spec, generated ${placeholders[s.name]} ` +
              '(a new one on every render; agentcage cage create keeps its own)',
          );
      });

      try {
        if (o.target === 'kubernetes') {
          const objs = renderKubernetes(cage, { placeholders, namespace: o.namespace });
          note(
            `the agent's resolver and proxy address are ${AWAITING_IP} and the CA ConfigMap is empty: ` +
              'the operator fills them in once the DNS and proxy Services exist and the CA is minted',
          );
          process.stdout.write(toYamlDocuments(objs));
        } else {
          const plan = renderPodman(cage, { placeholders });
          note(
            `podman: network ${plan.network.name} (${plan.network.subnet}); the CA is empty here: ` +
              'agentcage cage create mints it and plays each pod file with its own --network',
          );
          for (const p of plan.pods)
            process.stdout.write(`# ${p.file}: podman ${p.playArgs.join(' ')} ${p.file}\n` + p.yaml);
        }
      } catch (e) {
        if (e instanceof RenderError) throw new CliError(e.message);
        throw e;
      }
    });
}
