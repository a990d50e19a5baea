// The Cage custom resource: the one source of its shape, defaults and validation.
// The CRD's openAPIV3Schema is generated from these schemas (operator/api/crd.ts); cross-field
// rules are declared once in `rules` below and reach both zod and the CRD (as CEL).
import { z } from 'zod';

export const GROUP = 'agentcage.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'Cage';
export const PLURAL = 'cages';
export const SHORT_NAME = 'cg';

// A domain name (lower case, no trailing dot, no scheme or path). It also matches its subdomains.
// No lookaheads: the CRD's patterns are checked by the API server with Go's RE2.
export const DOMAIN_RE = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// Cage names prefix every object name (`NAME-proxy-ca`), so they stay well below 63.
export const CAGE_NAME_RE = /^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$/;
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
// image[:tag][@sha256:digest]; registry host and port allowed.
export const IMAGE_RE = /^[a-z0-9]+([._\-/:][a-z0-9]+)*(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;
export const QUANTITY_RE = /^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/;

const domain = (what: string) =>
  z
    .string()
    .max(253, `${what} is at most 253 characters`)
    .regex(
      DOMAIN_RE,
      `${what} must be a lower-case domain name such as "api.example.com" (no scheme, port, path or wildcard; a domain already matches its subdomains)`,
    );

const quantity = z
  .string()
  .regex(QUANTITY_RE, 'must be a Kubernetes quantity such as "500m", "1", "512Mi" or "2Gi"');

const port = z.number().int().min(1, 'a port is 1-65535').max(65535, 'a port is 1-65535');

export const ResourcesSchema = z.strictObject({
  limits: z
    .strictObject({ cpu: quantity.default('1'), memory: quantity.default('1Gi') })
    .default({ cpu: '1', memory: '1Gi' }),
  requests: z
    .strictObject({ cpu: quantity.default('100m'), memory: quantity.default('128Mi') })
    .default({ cpu: '100m', memory: '128Mi' }),
});

export const EnvVarSchema = z.strictObject({
  name: z.string().regex(ENV_NAME_RE, 'an environment variable name is letters, digits and "_"'),
  value: z.string().default(''),
});

export const VolumeSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/, 'a volume name is a short DNS label'),
  mountPath: z.string().regex(/^\/.*/, 'mountPath must be an absolute path'),
  readOnly: z.boolean().default(false),
  // Where the data lives: a fresh per-cage emptyDir by default (never shared between cages),
  // a PersistentVolumeClaim in Kubernetes, or a host directory locally.
  sizeLimit: quantity.optional(),
  claimName: z.string().optional(),
  hostPath: z.string().regex(/^\/.*/, 'hostPath must be an absolute path').optional(),
});

export const PortSchema = z.strictObject({
  containerPort: port,
  hostPort: port.optional(),
  // Published to loopback only unless the user says otherwise, and says it twice (allowAllInterfaces).
  // maxLength bounds the CEL rule's cost estimate on the API server (an unbounded string is costed at 3 MB).
  hostIP: z.string().max(45, 'hostIP is an IP address such as "127.0.0.1"').default('127.0.0.1'),
  allowAllInterfaces: z.boolean().default(false),
  protocol: z.enum(['TCP', 'UDP']).default('TCP'),
});

export const AgentSchema = z.strictObject({
  image: z
    .string()
    .regex(IMAGE_RE, 'image must be a reference such as "ghcr.io/org/agent:1.2" or "...@sha256:<64 hex>"'),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  env: z.array(EnvVarSchema).default([]),
  workingDir: z.string().optional(),
  user: z
    .strictObject({
      uid: z.number().int().min(1, 'the agent never runs as root: pick a uid of 1 or more').default(10001),
      gid: z.number().int().min(0).default(10001),
    })
    .default({ uid: 10001, gid: 10001 }),
  resources: ResourcesSchema.default({
    limits: { cpu: '1', memory: '1Gi' },
    requests: { cpu: '100m', memory: '128Mi' },
  }),
  volumes: z.array(VolumeSchema).default([]),
  ports: z.array(PortSchema).default([]),
  readOnlyRootFilesystem: z.boolean().default(true),
  // Absent: an ordinary container. A RuntimeClass (gvisor, kata) gives VM-grade isolation.
  isolation: z
    .strictObject({
      runtimeClassName: z
        .string()
        .regex(
          /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/,
          'runtimeClassName must be a DNS name such as "gvisor"',
        )
        .optional(),
    })
    .default({}),
});

export const EgressSchema = z.strictObject({
  // Exactly one of allow / block. Neither, or an empty allow list, blocks everything.
  allow: z.array(domain('each allowed domain')).optional(),
  block: z.array(domain('each blocked domain')).optional(),
  // TLS to these domains is tunnelled, not decrypted: still allowed or blocked by SNI.
  passthrough: z.array(domain('each passthrough domain')).default([]),
  // domain -> RFC 3339 time after which the entry no longer applies.
  expiry: z
    .record(
      z.string(),
      z.iso.datetime({ message: 'an expiry is an RFC 3339 time such as 2026-12-31T00:00:00Z' }),
    )
    .default({}),
  ports: z
    .array(port)
    .min(1, 'list at least one TCP port the agent may reach, e.g. [443]')
    .default([80, 443]),
});

export const INJECT_LOCATIONS = ['headers', 'url', 'body', 'websocket'] as const;

export const SecretSchema = z.strictObject({
  // The environment variable the agent sees, holding the placeholder.
  name: z
    .string()
    .regex(ENV_NAME_RE, 'a secret name is the env variable the agent sees: letters, digits, "_"'),
  // What the agent holds instead of the real value. Generated (128 random bits) when absent.
  placeholder: z
    .string()
    .min(24, 'a placeholder must be at least 24 characters so it cannot be guessed; omit it to generate one')
    .regex(/^[A-Za-z0-9_.-]+$/, 'a placeholder is letters, digits, "_", "-" and "."')
    .optional(),
  // Where the real value comes from. None given: locally from `-s NAME=VALUE`.
  valueFrom: z
    .strictObject({
      secretKeyRef: z.strictObject({ name: z.string().min(1), key: z.string().min(1) }).optional(),
      env: z.string().regex(ENV_NAME_RE).optional(),
      podmanSecret: z.string().min(1).optional(),
    })
    .optional(),
  injectTo: z
    .array(domain('each injectTo entry'))
    .min(1, 'name at least one domain the real value may be sent to, e.g. ["api.anthropic.com"]'),
  // Headers only by default; URL, body and WebSocket frames only when listed.
  injectIn: z.array(z.enum(INJECT_LOCATIONS)).min(1).default(['headers']),
});

export const ACTIONS = ['block', 'flag'] as const;

export const ExtraPatternSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/, 'a pattern name is lower-case letters, digits, "_" and "-"'),
  regex: z.string().min(1),
  allowedDomains: z.array(domain('each allowed domain')).default([]),
  severity: z.enum(['low', 'medium', 'high', 'critical']).default('high'),
});

export const InspectorsSchema = z.strictObject({
  secrets: z
    .strictObject({
      enabled: z.boolean().default(true),
      extraPatterns: z.array(ExtraPatternSchema).default([]),
      // pattern name -> extra domains where that kind of credential may legitimately go.
      allowedDomains: z.record(z.string(), z.array(domain('each allowed domain'))).default({}),
      disabledPatterns: z.array(z.string()).default([]),
    })
    .default({ enabled: true, extraPatterns: [], allowedDomains: {}, disabledPatterns: [] }),
  entropy: z
    .strictObject({
      enabled: z.boolean().default(true),
      action: z.enum(ACTIONS).default('block'),
      bodyThreshold: z.number().min(0).max(8).default(7.5), // bits per byte
      minBodyBytes: z.number().int().min(0).default(4096),
      urlThreshold: z.number().min(0).max(8).default(4.8), // bits per char of one query value / path segment
      minUrlValueLength: z.number().int().min(1).default(32),
      exemptContentTypes: z.array(z.string()).default([]), // added to the built-in image/archive list
      // host -> URL parameters exempt from entropy checks (added to the signed-URL defaults).
      urlParamAllowlist: z.record(z.string(), z.array(z.string())).default({}),
    })
    .default({
      enabled: true,
      action: 'block',
      bodyThreshold: 7.5,
      minBodyBytes: 4096,
      urlThreshold: 4.8,
      minUrlValueLength: 32,
      exemptContentTypes: [],
      urlParamAllowlist: {},
    }),
  contentType: z
    .strictObject({ enabled: z.boolean().default(true), action: z.enum(ACTIONS).default('block') })
    .default({ enabled: true, action: 'block' }),
  base64: z
    .strictObject({
      enabled: z.boolean().default(true),
      action: z.enum(ACTIONS).default('flag'),
      minLength: z.number().int().min(16).default(1024),
    })
    .default({ enabled: true, action: 'flag', minLength: 1024 }),
  bodySize: z
    .strictObject({
      maxRequestBytes: z
        .number()
        .int()
        .min(1)
        .default(10 * 1024 * 1024),
      perHost: z.record(z.string(), z.number().int().min(1)).default({}),
    })
    .default({ maxRequestBytes: 10 * 1024 * 1024, perHost: {} }),
  dns: z
    .strictObject({
      enabled: z.boolean().default(true),
      maxLabelLength: z.number().int().min(1).max(63).default(40),
      labelEntropyThreshold: z.number().min(0).max(8).default(4.0),
      maxUniqueSubdomains: z.number().int().min(1).default(100),
      windowSeconds: z.number().int().min(1).default(60),
    })
    .default({
      enabled: true,
      maxLabelLength: 40,
      labelEntropyThreshold: 4.0,
      maxUniqueSubdomains: 100,
      windowSeconds: 60,
    }),
  // Custom inspectors: JavaScript modules loaded only from `dir` (paths outside it are refused).
  custom: z
    .strictObject({
      dir: z.string().default('/etc/agentcage/inspectors'),
      modules: z
        .array(
          z
            .string()
            .regex(/^[A-Za-z0-9_.-]+\.(m?js)$/, 'a custom inspector is a file name such as "pii.mjs"'),
        )
        .default([]),
    })
    .default({ dir: '/etc/agentcage/inspectors', modules: [] }),
});

export const RateLimitSchema = z.strictObject({
  enabled: z.boolean().default(true),
  requestsPerSecond: z.number().positive().default(20),
  burst: z.number().int().min(1).default(40),
  perHost: z
    .record(
      z.string(),
      z.strictObject({ requestsPerSecond: z.number().positive(), burst: z.number().int().min(1) }),
    )
    .default({}),
});

export const LoggingSchema = z.strictObject({
  allowedRequests: z.boolean().default(true),
  dnsQueries: z.boolean().default(true),
});

export const CaptureSchema = z.strictObject({
  har: z.boolean().default(false),
  maxBodyBytes: z.number().int().min(0).default(65536),
  // Capture flows whose decision is at least this severe: allow < flag < block.
  minAction: z.enum(['allow', 'flag', 'block']).default('flag'),
  domains: z.array(domain('each capture domain')).default([]), // empty: every domain
  // The on-the-wire view holds real secret values: off unless asked for.
  wireView: z.boolean().default(false),
});

export const DnsSchema = z.strictObject({
  upstreams: z
    .array(
      z
        .string()
        .regex(/^[0-9a-fA-F.:]+(#[0-9]+)?$/, 'an upstream resolver is an IP address, optionally "#port"'),
    )
    .min(1, 'list at least one upstream resolver, e.g. ["1.1.1.1"]')
    .default(['1.1.1.1', '9.9.9.9']),
  // What non-permitted names resolve to (A and AAAA): addresses reserved for documentation.
  // Patterns keep these to address characters: they are written into dnsmasq.conf lines.
  placeholderIPv4: z
    .string()
    .regex(/^[0-9]{1,3}(\.[0-9]{1,3}){3}$/, 'placeholderIPv4 is an IPv4 address such as "198.51.100.1"')
    .default('198.51.100.1'),
  placeholderIPv6: z
    .string()
    .regex(/^[0-9a-fA-F]*:[0-9a-fA-F:.]*$/, 'placeholderIPv6 is an IPv6 address such as "100::1"')
    .default('100::1'),
});

export const ProxySettingsSchema = z.strictObject({
  // explicit: HTTP(S)_PROXY variables; transparent: NAT redirect of 80/443 (needs NET_ADMIN in an init container).
  mode: z.enum(['explicit', 'transparent']).default('explicit'),
  resources: ResourcesSchema.default({
    limits: { cpu: '1', memory: '256Mi' },
    requests: { cpu: '100m', memory: '64Mi' },
  }),
});

/** A cross-field rule declared once: zod checks it locally, the CRD carries it as CEL. */
export interface CrossFieldRule<T> {
  cel: string;
  message: string;
  path?: PropertyKey[];
  holds: (value: T) => boolean;
}

export const egressRules: CrossFieldRule<z.input<typeof EgressSchema>>[] = [
  {
    cel: '!(has(self.allow) && has(self.block))',
    message: 'set either egress.allow (an allowlist) or egress.block (a blocklist), not both',
    holds: (e) => !(e.allow !== undefined && e.block !== undefined),
  },
];

export const portRules: CrossFieldRule<z.input<typeof PortSchema>>[] = [
  {
    cel: "!has(self.hostIP) || self.hostIP == '127.0.0.1' || self.hostIP == '::1' || (has(self.allowAllInterfaces) && self.allowAllInterfaces)",
    message:
      'a port published on an address other than 127.0.0.1 or ::1 is reachable from the network: set allowAllInterfaces: true to mean it, or drop hostIP',
    path: ['hostIP'],
    holds: (p) =>
      p.hostIP === undefined ||
      p.hostIP === '127.0.0.1' ||
      p.hostIP === '::1' ||
      p.allowAllInterfaces === true,
  },
];

export const volumeRules: CrossFieldRule<z.input<typeof VolumeSchema>>[] = [
  {
    cel: '!(has(self.claimName) && has(self.hostPath))',
    message: 'a volume is either a claimName or a hostPath, not both',
    holds: (v) => !(v.claimName !== undefined && v.hostPath !== undefined),
  },
];

/** Attaches rules to a schema both ways: as zod checks and as x-kubernetes-validations. */
function withRules<S extends z.ZodType>(schema: S, rules: CrossFieldRule<z.input<S>>[]): S {
  const checked = schema.superRefine((value, ctx) => {
    for (const r of rules) {
      if (!r.holds(value as z.input<S>))
        ctx.addIssue({ code: 'custom', message: r.message, path: r.path ?? [] });
    }
  });
  return checked.meta({
    'x-kubernetes-validations': rules.map((r) => ({ rule: r.cel, message: r.message })),
  }) as unknown as S;
}

const CheckedEgress = withRules(EgressSchema, egressRules);
const CheckedPort = withRules(PortSchema, portRules);
const CheckedVolume = withRules(VolumeSchema, volumeRules);

export const CageSpecSchema = z
  .strictObject({
    agent: AgentSchema.extend({
      ports: z.array(CheckedPort).default([]),
      volumes: z.array(CheckedVolume).default([]),
    }),
    egress: CheckedEgress.default({ passthrough: [], expiry: {}, ports: [80, 443] }),
    secrets: z.array(SecretSchema).default([]),
    inspectors: InspectorsSchema.default(InspectorsSchema.parse({})),
    rateLimit: RateLimitSchema.default(RateLimitSchema.parse({})),
    logging: LoggingSchema.default({ allowedRequests: true, dnsQueries: true }),
    capture: CaptureSchema.default(CaptureSchema.parse({})),
    dns: DnsSchema.default(DnsSchema.parse({})),
    proxy: ProxySettingsSchema.default(ProxySettingsSchema.parse({})),
  })
  .superRefine((spec, ctx) => {
    // Rules across sections: these cannot be CEL on one object, so they live here only.
    const seen = new Map<string, number>();
    spec.secrets.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({
          code: 'custom',
          path: ['secrets', i, 'name'],
          message: `secret "${s.name}" is declared twice (also at secrets[${seen.get(s.name)}]): give each secret one entry`,
        });
      seen.set(s.name, i);
    });
    const placeholders = new Map<string, number>();
    spec.secrets.forEach((s, i) => {
      if (!s.placeholder) return;
      if (placeholders.has(s.placeholder))
        ctx.addIssue({
          code: 'custom',
          path: ['secrets', i, 'placeholder'],
          message: `placeholder collides with secrets[${placeholders.get(s.placeholder)}]: each secret needs its own placeholder (omit it to generate one)`,
        });
      placeholders.set(s.placeholder, i);
    });
    const listed = new Set([...(spec.egress.allow ?? []), ...(spec.egress.block ?? [])]);
    for (const d of Object.keys(spec.egress.expiry)) {
      if (!listed.has(d))
        ctx.addIssue({
          code: 'custom',
          path: ['egress', 'expiry', d],
          message: `expiry names "${d}", which is in neither egress.allow nor egress.block: add it there or remove the expiry`,
        });
    }
    spec.agent.env.forEach((e, i) => {
      if (spec.secrets.some((s) => s.name === e.name))
        ctx.addIssue({
          code: 'custom',
          path: ['agent', 'env', i, 'name'],
          message: `env "${e.name}" is also a secret: the secret's placeholder fills it, remove it from agent.env`,
        });
    });
  });

export const ConditionSchema = z.strictObject({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.number().int().optional(),
  lastTransitionTime: z.string(),
  reason: z.string().regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/),
  message: z.string(),
});

export const PHASES = ['Pending', 'Ready', 'Degraded', 'Failed', 'Terminating'] as const;

export const CageStatusSchema = z.strictObject({
  observedGeneration: z.number().int().optional(),
  phase: z.enum(PHASES).optional(),
  egressMode: z.enum(['allowlist', 'blocklist']).optional(),
  caFingerprint: z.string().optional(),
  conditions: z
    .array(ConditionSchema)
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
    .optional(),
});

export const MetadataSchema = z
  .object({
    name: z
      .string({ message: 'metadata.name is required' })
      .regex(
        CAGE_NAME_RE,
        'a cage name is a DNS label of at most 40 characters: lower-case letters, digits and "-", starting with a letter',
      ),
    namespace: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .loose(); // uid, resourceVersion, generation, ... come from the API server

export const CageSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { message: `apiVersion must be "${API_VERSION}"` }),
  kind: z.literal(KIND, { message: `kind must be "${KIND}"` }),
  metadata: MetadataSchema,
  spec: CageSpecSchema,
  status: CageStatusSchema.optional(),
});

export type Cage = z.output<typeof CageSchema>;
export type CageInput = z.input<typeof CageSchema>;
export type CageSpec = z.output<typeof CageSpecSchema>;
export type CageStatus = z.output<typeof CageStatusSchema>;
export type Condition = z.output<typeof ConditionSchema>;
export type SecretSpec = z.output<typeof SecretSchema>;
export type InspectorsSpec = z.output<typeof InspectorsSchema>;
export type InjectLocation = (typeof INJECT_LOCATIONS)[number];

export function egressMode(spec: CageSpec): 'allowlist' | 'blocklist' {
  return spec.egress.block !== undefined ? 'blocklist' : 'allowlist';
}
