// `agentcage proxy --policy FILE ...`: runs the inspecting proxy in this process (the same code
// and flags as the proxy image). Registered in main.ts with one line.
import type { Command } from 'commander';
import { proxyProgram } from '../../proxy-image/src/cli.ts';

export function proxyCommand(): Command {
  return proxyProgram('proxy');
}

export function registerProxy(program: Command): void {
  program.addCommand(proxyCommand());
}
