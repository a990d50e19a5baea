// The inspector library's entry point for the proxy: buildInspectors(policy, secretValues) gives
// the chains for each kind of message and the secret swap. Pure apart from loading custom modules.
import type { ProxyPolicy } from '../../../operator/api/policy.ts';
import { runChain, runChainSync } from './chain.ts';
import { decodedRequest } from './content-encoding.ts';
import { loadCustomInspectors } from './custom.ts';
import { mostSpecific } from './domains.ts';
import { base64Inspector } from './inspectors/base64.ts';
import { bodySizeInspector } from './inspectors/body-size.ts';
import { contentTypeInspector } from './inspectors/content-type.ts';
import { dnsInspector } from './inspectors/dns.ts';
import { domainInspector } from './inspectors/domain.ts';
import { entropyInspector } from './inspectors/entropy.ts';
import { secretsInspector } from './inspectors/secrets.ts';
import { NaiveScanner } from './naive-scanner.ts';
import { SecretScanner } from './scanner.ts';
import { compilePatterns, PolicyError } from './settings.ts';
import { createSwap, type SecretSwap } from './swap.ts';
import type {
  ChainResult,
  DnsQueryMessage,
  Inspector,
  RequestMessage,
  ResponseMessage,
  WebSocketFrameMessage,
} from './types.ts';

export type { SecretSwap, StreamRedactor } from './swap.ts';
export type * from './types.ts';
export { PolicyError } from './settings.ts';
export { mask } from './mask.ts';

export interface InspectorSet {
  // A promise only when an inspector answered asynchronously (see runChain).
  inspectRequest(msg: RequestMessage, now?: number): ChainResult | Promise<ChainResult>;
  inspectResponse(msg: ResponseMessage, now?: number): ChainResult | Promise<ChainResult>;
  inspectFrame(msg: WebSocketFrameMessage, now?: number): ChainResult | Promise<ChainResult>;
  inspectDns(msg: DnsQueryMessage, now?: number): ChainResult;
  swap: SecretSwap;
  /** The chain's inspector names in order, for metrics labels and logs. */
  readonly names: readonly string[];
}

export interface BuildOptions {
  /** Load custom inspector modules from here instead of policy.inspectors.custom.dir. */
  customDir?: string;
  /** The secret scanner: 'fast' (default) or 'naive' (every regex over the whole input; bench baseline). */
  scanner?: 'fast' | 'naive';
}

export async function buildInspectors(
  policy: ProxyPolicy,
  secretValues: Map<string, string>,
  opts: BuildOptions = {},
): Promise<InspectorSet> {
  const settings = policy.inspectors;
  for (const [i, s] of policy.secrets.entries()) {
    const v = secretValues.get(s.name);
    if (v === undefined || v === '')
      throw new PolicyError(
        `secrets[${i}]`,
        `no value was given for secret ${s.name}: the proxy cannot inject it`,
      );
    if (v === s.placeholder)
      throw new PolicyError(`secrets[${i}]`, `the value of secret ${s.name} equals its placeholder`);
  }
  const patterns = compilePatterns(settings);
  const Scanner = opts.scanner === 'naive' ? NaiveScanner : SecretScanner;
  const scanner = new Scanner(
    patterns,
    policy.secrets.map((s) => ({ name: s.name, value: secretValues.get(s.name) as string })),
    policy.secrets.map((s) => ({ name: s.name, value: s.placeholder })),
  );
  const custom = await loadCustomInspectors(policy, opts.customDir);

  const domain = domainInspector(policy);
  const secrets = settings.secrets.enabled ? [secretsInspector(scanner, patterns, policy.secrets)] : [];
  const outbound: Inspector[] = [
    domain,
    ...secrets,
    bodySizeInspector(settings),
    entropyInspector(settings),
    contentTypeInspector(settings),
    base64Inspector(settings),
    ...custom,
  ];
  const dnsChain: Inspector[] = [domain, dnsInspector(settings)];
  const ctx = (now?: number) => ({ policy, now: now ?? Date.now() });

  return {
    names: outbound.map((i) => i.name),
    inspectRequest: (msg, now) => {
      const limit = mostSpecific(msg.host, settings.bodySize.perHost) ?? settings.bodySize.maxRequestBytes;
      return runChain(outbound, decodedRequest(msg, limit), ctx(now));
    },
    inspectResponse: (msg, now) => runChain(custom, msg, ctx(now)),
    inspectFrame: (msg, now) => runChain(msg.direction === 'outbound' ? outbound : custom, msg, ctx(now)),
    inspectDns: (msg, now) => runChainSync(dnsChain, msg, ctx(now)),
    swap: createSwap(policy.secrets, secretValues),
  };
}
