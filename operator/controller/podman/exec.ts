// The one place the podman controller runs host commands (podman, iptables, ip). Everything else
// in this folder is pure planning that hands argv arrays to these functions.
import { spawn, spawnSync } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  /** Return a non-zero exit as a result instead of throwing. */
  allowFail?: boolean;
  /** Extra environment variables for the child (on top of this process's). */
  env?: Record<string, string>;
}

/** A failed command, with the argv and what it printed, so the CLI can say exactly what failed. */
export class CommandError extends Error {
  constructor(
    public readonly argv: string[],
    public readonly result: RunResult,
  ) {
    const why = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' | ');
    super(`\`${argv.join(' ')}\` exited ${result.code}${why ? `: ${why}` : ''}`);
    this.name = 'CommandError';
  }
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const result = {
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (signal ? `\n(killed by ${signal})` : ''),
      };
      if (result.code !== 0 && !opts.allowFail) reject(new CommandError([cmd, ...args], result));
      else resolve(result);
    });
    child.stdin.on('error', () => {}); // a command that exits before reading its input
    child.stdin.end(opts.input ?? '');
  });
}

export const podman = (args: string[], opts?: RunOptions) =>
  run('podman', args, { timeoutMs: 120_000, ...opts });

/** podman ... --format json, parsed. */
export async function podmanJson<T>(args: string[]): Promise<T> {
  const r = await podman(args);
  const text = r.stdout.trim();
  return (text ? JSON.parse(text) : []) as T;
}

/** Runs with the terminal attached (cage shell, exec, logs -f); resolves with the exit code. */
export function runAttached(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit' });
    child.on('error', (e) => reject(new Error(`cannot run ${cmd}: ${e.message}`)));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

export function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
