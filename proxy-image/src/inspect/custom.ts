// Custom inspectors: JavaScript modules loaded only from the configured directory. A module's
// default export is an Inspector or a factory returning one (it receives the policy). Any path
// that leaves the directory (.., absolute paths, symlinks pointing outside) is refused.
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ProxyPolicy } from '../../../operator/api/policy.ts';
import { PolicyError } from './settings.ts';
import type { Inspector } from './types.ts';

const NAME_RE = /^[A-Za-z0-9_.-]+\.m?js$/;

/** The real path of `file` inside `dir`, or an error saying why it may not be loaded. */
export async function resolveInside(dir: string, file: string, field: string): Promise<string> {
  if (isAbsolute(file) || file.includes('/') || file.includes('\\') || file.includes('..'))
    throw new PolicyError(field, `"${file}" must be a plain file name inside ${dir} (no path, no "..")`);
  if (!NAME_RE.test(file))
    throw new PolicyError(field, `"${file}" must be a JavaScript module name such as "pii.mjs"`);
  let realDir: string;
  try {
    realDir = await realpath(dir);
  } catch {
    throw new PolicyError('inspectors.custom.dir', `${dir} does not exist or cannot be read`);
  }
  let real: string;
  try {
    real = await realpath(join(realDir, file));
  } catch {
    throw new PolicyError(field, `${join(dir, file)} does not exist`);
  }
  if (!real.startsWith(realDir + sep))
    throw new PolicyError(field, `${join(dir, file)} resolves to ${real}, outside ${dir}: refused`);
  return real;
}

function asInspector(v: unknown): Inspector | undefined {
  const o = v as Partial<Inspector> | undefined;
  return o && typeof o === 'object' && typeof o.name === 'string' && o.name && typeof o.inspect === 'function'
    ? (o as Inspector)
    : undefined;
}

export async function loadCustomInspectors(policy: ProxyPolicy, dirOverride?: string): Promise<Inspector[]> {
  const { dir: policyDir, modules } = policy.inspectors.custom;
  const dir = dirOverride ?? policyDir;
  const out: Inspector[] = [];
  for (const [i, file] of modules.entries()) {
    const field = `inspectors.custom.modules[${i}]`;
    const real = await resolveInside(dir, file, field);
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(real).href)) as { default?: unknown };
    } catch (e) {
      throw new PolicyError(field, `${file} failed to load: ${(e as Error).message}`);
    }
    let insp = asInspector(mod.default);
    if (!insp && typeof mod.default === 'function') {
      try {
        insp = asInspector(await (mod.default as (o: { policy: ProxyPolicy }) => unknown)({ policy }));
      } catch (e) {
        throw new PolicyError(field, `${file}'s factory failed: ${(e as Error).message}`);
      }
    }
    if (!insp)
      throw new PolicyError(
        field,
        `${file} must default-export an inspector ({ name, inspect(msg, ctx) }) or a function returning one`,
      );
    const name = `custom:${insp.name}`;
    const inner = insp;
    out.push({ name, inspect: (msg, ctx) => inner.inspect(msg, ctx) });
  }
  return out;
}
