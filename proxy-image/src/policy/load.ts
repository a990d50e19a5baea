// Reads the policy document and the real secret values it points at. Refuses (throws with the
// field and the fix) rather than starting with a partial policy.
import { readFileSync, statSync } from 'node:fs';
import type { ProxyPolicy } from '../../../operator/api/policy.ts';
import { parsePolicyIsolated } from './isolated-parse.ts';

export interface LoadedPolicy {
  policy: ProxyPolicy;
  /** secret name -> real value (never logged) */
  secretValues: Map<string, string>;
  /** every file the loaded result depends on: a change to any of them triggers a reload */
  files: string[];
}

export async function readPolicyFile(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedPolicy> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the policy file ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `the policy file ${path} is not JSON (${(e as Error).message}): render it with agentcage`,
    );
  }
  const policy = await parsePolicyIsolated(doc);
  const files = [path];
  if (policy.upstream.extraCaFile) {
    try {
      statSync(policy.upstream.extraCaFile);
    } catch (e) {
      throw new Error(
        `upstream.extraCaFile: cannot read ${policy.upstream.extraCaFile} (${(e as Error).message})`,
      );
    }
    files.push(policy.upstream.extraCaFile);
  }
  const secretValues = new Map<string, string>();
  policy.secrets.forEach((s, i) => {
    let value: string | undefined;
    if (s.valueFrom.file !== undefined) {
      try {
        // A trailing newline is how `echo value > file` writes; it is never part of a credential.
        value = readFileSync(s.valueFrom.file, 'utf8').replace(/\r?\n$/, '');
      } catch (e) {
        throw new Error(
          `secrets[${i}] (${s.name}).valueFrom.file: cannot read ${s.valueFrom.file} (${(e as Error).message}): mount the secret there`,
        );
      }
      files.push(s.valueFrom.file);
    } else if (s.valueFrom.env !== undefined) {
      value = env[s.valueFrom.env];
      if (value === undefined)
        throw new Error(
          `secrets[${i}] (${s.name}).valueFrom.env: the proxy's environment has no ${s.valueFrom.env}: set it`,
        );
    }
    if (!value)
      throw new Error(`secrets[${i}] (${s.name}): the real value is empty: put the secret's value there`);
    if (value === s.placeholder)
      throw new Error(
        `secrets[${i}] (${s.name}): the real value equals its placeholder: give the real secret`,
      );
    secretValues.set(s.name, value);
  });
  return { policy, secretValues, files };
}
