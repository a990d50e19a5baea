// `agentcage validate -c FILE`: checks a Cage without running anything.
import type { Command } from 'commander';
import { egressMode } from '../api/cage.ts';
import { parseCageYaml } from '../api/load.ts';
import { problemsError, readInput } from './io.ts';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a Cage file: every problem on its own line, naming the field (exit 1 when invalid)')
    .requiredOption('-c, --config <file>', 'the Cage YAML (- for stdin)')
    .action((o: { config: string }) => {
      const r = parseCageYaml(readInput(o.config));
      if (!r.ok) throw problemsError(r.problems);
      const s = r.cage.spec;
      const mode = egressMode(s);
      const domains = (mode === 'allowlist' ? s.egress.allow : s.egress.block) ?? [];
      process.stdout.write(
        `${o.config}: valid Cage "${r.cage.metadata.name}" (${mode}: ${domains.length} domain(s), ` +
          `${s.secrets.length} secret(s), proxy ${s.proxy.mode})\n`,
      );
    });
}
