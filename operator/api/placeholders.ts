// Placeholders: what the agent holds instead of a real secret. 128 random bits, in a shape that looks
// like no real credential format, so detectors never confuse the two and no agent can guess another
// cage's. Generated once by a controller and then kept (rendering stays pure and repeatable).
import { randomBytes } from 'node:crypto';
import type { Cage } from './cage.ts';

export const PLACEHOLDER_PREFIX = 'agentcage-ph-';
export const PLACEHOLDER_RE = /agentcage-ph-[0-9a-f]{32}/;

export function newPlaceholder(random: (n: number) => Buffer = randomBytes): string {
  return PLACEHOLDER_PREFIX + random(16).toString('hex');
}

/** secret name -> placeholder: the spec's own where given, else the kept one, else a new one. */
export function resolvePlaceholders(
  cage: Cage,
  kept: Record<string, string> = {},
  random: (n: number) => Buffer = randomBytes,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of cage.spec.secrets) out[s.name] = s.placeholder ?? kept[s.name] ?? newPlaceholder(random);
  return out;
}
