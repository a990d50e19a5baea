// External tools the operator tests run (helm, promtool): found on PATH, or the test is skipped,
// except under CI=true, where a missing tool fails the test instead of hiding it.
import { spawnSync } from 'node:child_process';

export function findTool(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  return r.status === 0 && p ? p : undefined;
}

/** The tool's path; skips the test when it is missing, unless CI=true (then throws: a failure). */
export function requireTool(ctx: Mocha.Context, name: string, install: string): string {
  const p = findTool(name);
  if (p) return p;
  if (process.env.CI === 'true') throw new Error(`${name} is missing and CI=true: ${install}`);
  ctx.skip();
}

export function run(
  cmd: string,
  args: string[],
  input?: string,
): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
}
