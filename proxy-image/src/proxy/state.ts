// Everything derived from one policy generation. Built whole, then swapped in with one
// assignment: a request uses the generation it started with, so a reload never changes the
// rules under a request in flight and never drops a connection.
import type { ProxyPolicy } from '../../../operator/api/policy.ts';
import { makeScrubber } from '../audit/record.ts';
import { guardedLookup, type StaticHosts } from '../net/lookup.ts';
import { lookupPerHost, matchesAny } from '../net/domain.ts';
import { SsrfGuard } from '../net/ssrf.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { BuildInspectors, InspectorSet } from './inspector-api.ts';
import { RateLimiter } from './rate-limit.ts';
import { UpstreamPool, upstreamCaKey } from './upstream.ts';

export interface ProxyState {
  generation: number;
  policy: ProxyPolicy;
  inspectors: InspectorSet;
  ssrf: SsrfGuard;
  ports: ReadonlySet<number>;
  rateLimiter: RateLimiter;
  upstream: UpstreamPool;
  /** any secret to redact: when false, responses pass through untouched (Content-Length kept) */
  hasSecrets: boolean;
  scrub: (line: string) => string;
  isPassthrough(host: string): boolean;
  /** some secret is injected towards `host` (else the swap has nothing to do on the way out) */
  injectsTo(host: string): boolean;
  bodyLimit(host: string): number;
  files: string[];
}

export interface StateDeps {
  buildInspectors: BuildInspectors;
  staticHosts: StaticHosts;
  /** the SSRF guard of the generation in force (new connections always check the newest rules) */
  currentGuard: () => SsrfGuard;
  customDir?: string;
}

export async function buildState(
  loaded: LoadedPolicy,
  deps: StateDeps,
  generation: number,
  previous?: ProxyState,
): Promise<ProxyState> {
  const { policy, secretValues } = loaded;
  const ssrf = SsrfGuard.fromCidrs(policy.ssrf.allowCidrs);
  const inspectors = await deps.buildInspectors(policy, secretValues, { customDir: deps.customDir });
  // Same rate limits as before: keep the buckets, so a reload is no way around a limit.
  const rateLimiter =
    previous && JSON.stringify(previous.policy.rateLimit) === JSON.stringify(policy.rateLimit)
      ? previous.rateLimiter
      : new RateLimiter(policy.rateLimit);
  const caKey = upstreamCaKey(policy.upstream.extraCaFile, policy.upstream.connectTimeoutMs);
  const upstream =
    previous && previous.upstream.key === caKey
      ? previous.upstream
      : new UpstreamPool(
          guardedLookup(deps.currentGuard, deps.staticHosts),
          policy.upstream.extraCaFile,
          policy.upstream.connectTimeoutMs,
          caKey,
        );
  const passthrough = policy.egress.passthrough;
  const body = policy.inspectors.bodySize;
  return {
    generation,
    policy,
    inspectors,
    ssrf,
    ports: new Set(policy.egress.ports),
    rateLimiter,
    upstream,
    hasSecrets: secretValues.size > 0,
    scrub: makeScrubber(secretValues),
    isPassthrough: (host) => passthrough.length > 0 && matchesAny(host, passthrough),
    injectsTo: memo((host) => policy.secrets.some((s) => matchesAny(host, s.injectTo))),
    bodyLimit: (host) => lookupPerHost(body.perHost, host) ?? body.maxRequestBytes,
    files: loaded.files,
  };
}

/** A bounded per-host memo for answers that depend only on the host and the policy generation. */
function memo(f: (host: string) => boolean): (host: string) => boolean {
  const cache = new Map<string, boolean>();
  return (host) => {
    let v = cache.get(host);
    if (v === undefined) {
      v = f(host);
      if (cache.size >= 4096) cache.clear();
      cache.set(host, v);
    }
    return v;
  };
}
