// Shared pieces of the e2e tests: whether podman and the images are here (CI must fail without
// them, elsewhere the suite skips and says why), the agentcage CLI run as a user runs it, and
// commands inside a cage's agent container.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { commandExists, podman, type RunResult } from '../../../operator/controller/podman/exec.ts';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const IMAGES = [
  'localhost/agentcage-proxy:dev',
  'localhost/agentcage-dns:dev',
  'localhost/agentcage-agent-demo:dev',
];

/** Why the e2e cannot run here, or undefined when it can. */
export async function missingPrerequisite(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the e2e needs root (rootful podman, iptables on the host)';
  if (!commandExists('podman')) return 'podman is not installed (scripts/install-system-deps.sh)';
  if (!commandExists('iptables') || !commandExists('ip6tables')) return 'iptables is not installed';
  for (const img of IMAGES)
    if ((await podman(['image', 'exists', img], { allowFail: true })).code !== 0)
      return `image ${img} is missing (make images)`;
  return undefined;
}

/**
 * In CI (CI=true) a missing prerequisite fails the suite; elsewhere the suite is skipped with the
 * reason printed, so `make test` on a laptop without podman still says what it did not run.
 */
export async function requirePodman(ctx: Mocha.Context): Promise<void> {
  const why = await missingPrerequisite();
  if (!why) return;
  if (process.env.CI === 'true') throw new Error(`e2e prerequisite missing in CI: ${why}`);
  console.log(`    (skipping the podman e2e: ${why})`);
  ctx.skip();
}

/** Runs `agentcage ARGS...` (bin/agentcage.js, as a user would) with its own state directory. */
export function agentcage(args: string[], stateDir: string, input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${REPO}bin/agentcage.js`, ...args], {
      cwd: REPO,
      env: { ...process.env, AGENTCAGE_STATE_DIR: stateDir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** `sh -c SCRIPT` in the cage's agent container, as the agent's user with the agent's environment. */
export function inAgent(cage: string, script: string): Promise<RunResult> {
  return podman(['exec', `${cage}-agent-agent`, 'sh', '-c', script], { allowFail: true, timeoutMs: 60_000 });
}

/** The agent-side client (agent-client.ts, bundled and mounted at /e2e) with JSON output. */
export async function client<T>(cage: string, args: string[]): Promise<T> {
  const r = await podman(['exec', `${cage}-agent-agent`, 'node', '/e2e/agent-client.mjs', ...args], {
    allowFail: true,
    timeoutMs: 60_000,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(
      `agent-client ${args.join(' ')} printed no JSON (exit ${r.code}): ${r.stdout} ${r.stderr}`,
    );
  }
}
