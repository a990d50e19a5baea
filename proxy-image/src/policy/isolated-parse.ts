// The policy is checked against the zod schema (operator/api, the one source of its shape) in a
// short-lived child process, so the schema library never loads in the proxy: about 5 MB less
// resident memory under load (bench/proxy). A worker thread was tried first: what it left in
// the proxy's malloc arenas cost as much as zod itself. The child runs this same script (in the
// image, the bundle) with CHECK_FLAG: the check below answers on stdout and exits before
// anything after it in the bundle (the CLI) runs. In the bundle, the schema and zod are a chunk
// of their own (scripts/bundle-proxy.ts) that only the child loads.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ProxyPolicy } from '../../../operator/api/policy.ts';
import { ValidationError, type FieldProblem } from '../../../operator/api/validation.ts';

export const CHECK_FLAG = '--agentcage-check-policy';
const CHECK_TIMEOUT_MS = 30_000;

type Answer = { policy: ProxyPolicy } | { problems: FieldProblem[] } | { error: string };

function answer(doc: unknown, parse: (doc: unknown) => ProxyPolicy): Answer {
  try {
    return { policy: parse(doc) };
  } catch (e) {
    if (e instanceof ValidationError) return { problems: e.problems };
    return { error: (e as Error).message };
  }
}

if (process.argv[2] === CHECK_FLAG) {
  const { parsePolicy } = await import('../../../operator/api/policy.ts');
  let a: Answer;
  try {
    a = answer(JSON.parse(readFileSync(0, 'utf8')), parsePolicy);
  } catch (e) {
    a = { error: `unreadable policy document on stdin (${(e as Error).message})` };
  }
  process.stdout.write(JSON.stringify(a), () => process.exit(0));
  await new Promise<never>(() => {}); // never settles: nothing after this module runs here
}

function settle(a: Answer): ProxyPolicy {
  if ('policy' in a) return a.policy;
  if ('problems' in a) throw new ValidationError(a.problems, 'proxy policy');
  throw new Error(a.error);
}

/** No child could be started or none answered (as opposed to a policy that is invalid). */
class NoChecker extends Error {}

/**
 * The schema check in a child `node SCRIPT --agentcage-check-policy` (this module's file, or
 * the bundle holding it). Rejects with the ValidationError of an invalid policy, or NoChecker.
 */
export function checkPolicyInChild(
  doc: unknown,
  script: string = fileURLToPath(import.meta.url),
): Promise<ProxyPolicy> {
  return new Promise<ProxyPolicy>((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [script, CHECK_FLAG],
      { timeout: CHECK_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => {
        let a: Answer;
        try {
          a = JSON.parse(stdout) as Answer;
        } catch {
          return reject(new NoChecker(err?.message ?? 'the policy check gave no answer'));
        }
        try {
          resolve(settle(a));
        } catch (e) {
          reject(e as Error);
        }
      },
    );
    child.stdin?.on('error', () => {}); // a child that died early: reported by the callback
    child.stdin?.end(JSON.stringify(doc));
  });
}

/** In this process, for when no child can be run: same schema, same errors. */
async function parseHere(doc: unknown): Promise<ProxyPolicy> {
  const { parsePolicy } = await import('../../../operator/api/policy.ts');
  return settle(answer(doc, parsePolicy));
}

/** The policy as the schema reads it (defaults filled in), or its ValidationError. */
export async function parsePolicyIsolated(doc: unknown): Promise<ProxyPolicy> {
  // Run from source (tests, tsx), plain node cannot load this TypeScript file: check here.
  if (import.meta.url.endsWith('.ts')) return parseHere(doc);
  try {
    return await checkPolicyInChild(doc);
  } catch (e) {
    if (e instanceof NoChecker) return parseHere(doc);
    throw e;
  }
}
