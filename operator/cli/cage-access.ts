// `agentcage cage shell NAME` and `cage exec NAME -- CMD...`: a process inside the agent container,
// with the agent's own user, environment (placeholders, proxy) and restrictions.
import type { Command } from 'commander';
import { runAttached } from '../controller/podman/exec.ts';
import { controller, guarded } from './cage-common.ts';

export function registerAccessVerbs(cage: Command): void {
  cage
    .command('shell')
    .description("an interactive shell in the agent container (the agent's user and environment)")
    .argument('<name>')
    .option('--shell <path>', 'the shell to run', '/bin/sh')
    .action((name: string, o) =>
      guarded(async () => {
        const ctl = controller(true);
        const ctr = ctl.container(ctl.store.read(name), 'agent');
        const tty = process.stdin.isTTY ? ['-it'] : ['-i'];
        return runAttached('podman', ['exec', ...tty, ctr, o.shell]);
      }),
    );

  cage
    .command('exec')
    .description("run a command in the agent container; its exit code is this command's")
    .argument('<name>')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('-i, --interactive', 'pass stdin through')
    .option('-t, --tty', 'allocate a terminal')
    .action((name: string, command: string[], o) =>
      guarded(async () => {
        const ctl = controller(true);
        const ctr = ctl.container(ctl.store.read(name), 'agent');
        const flags = [...(o.interactive ? ['-i'] : []), ...(o.tty ? ['-t'] : [])];
        return runAttached('podman', ['exec', ...flags, ctr, ...command]);
      }),
    );
}
