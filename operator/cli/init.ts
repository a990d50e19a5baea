// `agentcage init NAME --scaffold X`: writes a commented cage.yaml for a known agent, from
// examples/scaffolds/X.yaml (the one copy of each scaffold; users can read them there too).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CAGE_NAME_RE } from '../api/cage.ts';
import { parseCageYaml } from '../api/load.ts';
import { CliError, EXIT } from './io.ts';

const SCAFFOLD_DIR = new URL('../../examples/scaffolds/', import.meta.url);

export function listScaffolds(): string[] {
  return readdirSync(SCAFFOLD_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

/** The scaffold's text with metadata.name set to `name`; comments kept. */
export function scaffoldText(scaffold: string, name: string): string {
  const text = readFileSync(new URL(`${scaffold}.yaml`, SCAFFOLD_DIR), 'utf8');
  const out = text.replace(/^(metadata:\n(?:\s*#.*\n)*\s+name: )\S+$/m, `$1${name}`);
  if (out === text && !text.includes(`name: ${name}`))
    throw new Error(`scaffold ${scaffold} has no metadata.name line`);
  return out;
}

/** First comment line of a scaffold: what it is. */
function summary(scaffold: string): string {
  const first = readFileSync(new URL(`${scaffold}.yaml`, SCAFFOLD_DIR), 'utf8').split('\n')[0];
  return first.replace(/^#\s*/, '').replace(/ in a cage\.$/, '');
}

interface InitOptions {
  scaffold?: string;
  listScaffolds?: boolean;
  output: string;
  force?: boolean;
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a commented cage.yaml for a known agent (see --list-scaffolds)')
    .argument('[name]', 'the cage name: a DNS label, e.g. my-agent')
    .option('--scaffold <scaffold>', 'which agent: one of --list-scaffolds')
    .option('--list-scaffolds', 'list the scaffolds and exit')
    .option('-o, --output <file>', 'where to write (- for stdout)', 'cage.yaml')
    .option('-f, --force', 'overwrite an existing file')
    .action((name: string | undefined, o: InitOptions) => {
      const all = listScaffolds();
      if (o.listScaffolds) {
        const width = Math.max(...all.map((s) => s.length));
        for (const s of all) process.stdout.write(`${s.padEnd(width)}  ${summary(s)}\n`);
        return;
      }
      if (!name)
        throw new CliError(
          'init needs a NAME (e.g. agentcage init my-agent --scaffold claude-code)',
          EXIT.usage,
        );
      if (!o.scaffold) throw new CliError(`init needs --scaffold, one of: ${all.join(', ')}`, EXIT.usage);
      if (!all.includes(o.scaffold))
        throw new CliError(
          `--scaffold ${o.scaffold}: unknown scaffold; choose one of: ${all.join(', ')}`,
          EXIT.usage,
        );
      if (!CAGE_NAME_RE.test(name))
        throw new CliError(
          `metadata.name: "${name}" is not a cage name: a DNS label of at most 40 characters, lower-case letters, digits and "-", starting with a letter`,
        );
      const text = scaffoldText(o.scaffold, name);
      // The scaffold must itself be a valid Cage (a test checks each; this keeps a broken one from being written).
      const r = parseCageYaml(text);
      if (!r.ok)
        throw new Error(`scaffold ${o.scaffold} is invalid: ${r.problems[0].path}: ${r.problems[0].message}`);
      if (o.output === '-') {
        process.stdout.write(text);
        return;
      }
      if (existsSync(o.output) && !o.force)
        throw new CliError(`${o.output} exists: pass --force to overwrite it, or -o another file`);
      writeFileSync(o.output, text);
      process.stdout.write(
        `wrote ${o.output} (${o.scaffold}, cage "${name}"): review egress.allow and secrets, then\n` +
          `  agentcage validate -c ${o.output}\n  agentcage cage create -c ${o.output} -s NAME=VALUE ...\n`,
      );
    });
}
