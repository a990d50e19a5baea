// Cage -> the proxy's policy document (operator/api/policy.ts). It names where each real secret value
// is read from, never the value itself.
import type { Cage } from '../api/cage.ts';
import { egressMode } from '../api/cage.ts';
import { parsePolicy, POLICY_VERSION, type ProxyPolicy } from '../api/policy.ts';
import { PATHS, proxySecretEnv } from './contract.ts';
import { placeholdersFor, type PolicyContext } from './context.ts';

export function renderPolicy(cage: Cage, ctx: PolicyContext = {}): ProxyPolicy {
  const spec = cage.spec;
  const mode = egressMode(spec);
  const domains = (mode === 'allowlist' ? spec.egress.allow : spec.egress.block) ?? [];
  const placeholders = placeholdersFor(cage, ctx);
  const dir = ctx.secretDir ?? PATHS.secretDir;
  return parsePolicy({
    version: POLICY_VERSION,
    cage: cage.metadata.name,
    mode: spec.proxy.mode,
    egress: {
      mode,
      // The proxy enforces expiry itself at request time, so expired entries stay listed with their time.
      rules: domains.map((domain) =>
        spec.egress.expiry[domain] ? { domain, expiresAt: spec.egress.expiry[domain] } : { domain },
      ),
      passthrough: spec.egress.passthrough,
      ports: spec.egress.ports,
    },
    secrets: spec.secrets.map((s) => ({
      name: s.name,
      placeholder: placeholders[s.name],
      valueFrom: ctx.secretSource === 'env' ? { env: proxySecretEnv(s.name) } : { file: `${dir}/${s.name}` },
      injectTo: s.injectTo,
      injectIn: s.injectIn,
    })),
    inspectors: spec.inspectors,
    rateLimit: spec.rateLimit,
    logging: spec.logging,
    capture: spec.capture,
    ssrf: { allowCidrs: ctx.ssrfAllowCidrs ?? [] },
    upstream: ctx.upstreamExtraCaFile ? { extraCaFile: ctx.upstreamExtraCaFile } : {},
  });
}
