// The proxy's policy document: the contract between the operator (which renders it from a Cage,
// operator/render/policy.ts) and the proxy (which refuses to start on one that does not parse).
// It holds no real secret value: only where the proxy reads each one from.
import { z } from 'zod';
import {
  CaptureSchema,
  DOMAIN_RE,
  INJECT_LOCATIONS,
  InspectorsSchema,
  LoggingSchema,
  RateLimitSchema,
} from './cage.ts';
import { problemsFromZod, ValidationError } from './validation.ts';

export const POLICY_VERSION = 1;

const domain = z.string().regex(DOMAIN_RE, 'must be a lower-case domain name');

export const PolicySecretSchema = z.strictObject({
  name: z.string().min(1),
  placeholder: z.string().min(24),
  // Where the proxy reads the real value: a file (mounted Secret / podman secret) or its own env.
  valueFrom: z
    .strictObject({ file: z.string().optional(), env: z.string().optional() })
    .refine(
      (v) => (v.file === undefined) !== (v.env === undefined),
      'give exactly one of valueFrom.file or valueFrom.env',
    ),
  injectTo: z.array(domain).min(1),
  injectIn: z.array(z.enum(INJECT_LOCATIONS)).min(1),
});

export const EgressRuleSchema = z.strictObject({
  domain,
  // RFC 3339; after it the entry no longer applies.
  expiresAt: z.string().optional(),
});

export const ProxyPolicySchema = z.strictObject({
  version: z.literal(POLICY_VERSION),
  cage: z.string().min(1),
  mode: z.enum(['explicit', 'transparent']),
  egress: z.strictObject({
    mode: z.enum(['allowlist', 'blocklist']),
    rules: z.array(EgressRuleSchema),
    passthrough: z.array(domain),
    ports: z.array(z.number().int().min(1).max(65535)).min(1),
  }),
  secrets: z.array(PolicySecretSchema),
  inspectors: InspectorsSchema,
  rateLimit: RateLimitSchema,
  logging: LoggingSchema,
  capture: CaptureSchema,
  // SSRF guard: the address actually connected to must be public unless listed here (CIDRs).
  // Only tests and local stand-in internets put anything in this list.
  ssrf: z.strictObject({ allowCidrs: z.array(z.string()).default([]) }).default({ allowCidrs: [] }),
  upstream: z
    .strictObject({
      // Extra CA bundle trusted for upstream TLS, beside the system store (tests, private upstreams).
      extraCaFile: z.string().optional(),
      connectTimeoutMs: z.number().int().min(1).default(10000),
    })
    .default({ connectTimeoutMs: 10000 }),
});

export type ProxyPolicy = z.output<typeof ProxyPolicySchema>;
export type ProxyPolicyInput = z.input<typeof ProxyPolicySchema>;
export type PolicySecret = z.output<typeof PolicySecretSchema>;

export function parsePolicy(doc: unknown): ProxyPolicy {
  const r = ProxyPolicySchema.safeParse(doc);
  if (!r.success) throw new ValidationError(problemsFromZod(r.error), 'proxy policy');
  return r.data;
}
