// The `agentcage` command. Each verb lives in its own module and is registered here by one line.
// Exit codes: 0 success, 1 invalid input (one line per problem, never a stack trace), 2 usage.
import { Command, CommanderError } from 'commander';
import { registerCrd } from './crd.ts';
import { registerInit } from './init.ts';
import { CliError, EXIT } from './io.ts';
import { registerRender } from './render.ts';
import { registerValidate } from './validate.ts';
import { registerProxy } from './proxy.ts';
import { registerScan } from './scan.ts';
import { registerOperator } from './operator.ts';
import { cageCommand } from './cage.ts';

export function buildProgram(): Command {
  const program = new Command('agentcage')
    .description(
      'a sandbox for AI agents: an inspecting proxy, a DNS allowlist, and Cages for podman and Kubernetes',
    )
    .version('0.1.0');
  registerValidate(program);
  registerRender(program);
  registerCrd(program);
  registerInit(program);
  registerProxy(program);
  registerScan(program);
  registerOperator(program);
  program.addCommand(cageCommand());
  // Commands added whole (addCommand) do not inherit settings: apply them to every command.
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const c of all(program)) c.exitOverride().showHelpAfterError('(add --help for usage)');
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  // `agentcage render ... | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(EXIT.ok);
    throw e;
  });
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0; everything else commander raises is usage.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    const code = err instanceof CliError ? err.exitCode : EXIT.invalid;
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(err instanceof CliError ? `${msg}\n` : `agentcage: ${msg}\n`);
    process.exitCode = code;
  }
}

await main();
