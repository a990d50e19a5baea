// `agentcage crd`: the CustomResourceDefinition YAML generated from the Cage schema.
import type { Command } from 'commander';
import { crdYaml } from '../api/crd.ts';

export function registerCrd(program: Command): void {
  program
    .command('crd')
    .description('print the Cage CustomResourceDefinition (what crds/agentcage.io_cages.yaml holds)')
    .action(() => {
      process.stdout.write(crdYaml());
    });
}
