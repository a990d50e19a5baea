// Shared by the render tests: sample Cages, upstream schema validation, and a small NetworkPolicy
// evaluator that answers "may this pod reach that peer on this port?" the way the API documents it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Service } from 'kubernetes-models/v1/Service';
import type { Cage, CageInput } from '../../operator/api/cage.ts';
import { loadCage, validateCage } from '../../operator/api/load.ts';

export const examplesDir = new URL('../../examples/', import.meta.url);

export function exampleCage(file: string): Cage {
  return loadCage(readFileSync(new URL(file, examplesDir), 'utf8'));
}

export function cage(spec: CageInput['spec'], name = 'demo', extraMeta: Record<string, unknown> = {}): Cage {
  const r = validateCage({
    apiVersion: 'agentcage.io/v1alpha1',
    kind: 'Cage',
    metadata: { name, ...extraMeta },
    spec,
  });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return r.cage;
}

export const PH = (n: number) => `agentcage-ph-${n.toString(16).padStart(32, '0')}`;

/** A cage using most of the spec: transparent proxy, volumes, ports, runtimeClass, two secrets. */
export function fullCage(name = 'full'): Cage {
  return cage(
    {
      agent: {
        image: 'ghcr.io/example/agent@sha256:' + 'a'.repeat(64),
        command: ['node', 'agent.js'],
        args: ['--verbose'],
        workingDir: '/work',
        env: [{ name: 'LOG_LEVEL', value: 'debug' }],
        volumes: [
          { name: 'work', mountPath: '/work', sizeLimit: '1Gi' },
          { name: 'cache', mountPath: '/cache', claimName: 'agent-cache' },
        ],
        ports: [{ containerPort: 8080, hostPort: 18080 }],
        isolation: { runtimeClassName: 'gvisor' },
      },
      egress: {
        allow: ['api.anthropic.com', 'github.com', 'pypi.org'],
        passthrough: ['pypi.org'],
        expiry: { 'pypi.org': '2030-01-01T00:00:00Z' },
        ports: [443],
      },
      secrets: [
        {
          name: 'ANTHROPIC_API_KEY',
          injectTo: ['api.anthropic.com'],
          valueFrom: { secretKeyRef: { name: 'llm-keys', key: 'anthropic' } },
        },
        { name: 'GITHUB_TOKEN', placeholder: PH(2), injectTo: ['github.com'], injectIn: ['headers', 'url'] },
      ],
      dns: { upstreams: ['1.1.1.1', '2606:4700:4700::1111', '10.0.0.53#5353'] },
      proxy: { mode: 'transparent' },
    },
    name,
  );
}

export type UpstreamModels = Record<string, new (o: never) => { validate(): void }>;

const MODELS: UpstreamModels = {
  Pod,
  Deployment,
  Service,
  ConfigMap,
  NetworkPolicy,
};

/**
 * Validates against the upstream Kubernetes schemas (kubernetes-models: the render kinds unless
 * `models` names others) and, because those allow
 * unknown fields, also round-trips through client-node's typed serializer: a field that does not
 * exist in the API is dropped there, so the round trip differs.
 */
export function assertValidKubeObject(
  obj: { kind: string; metadata?: { name?: string } },
  models: UpstreamModels = MODELS,
): void {
  const Model = models[obj.kind];
  assert.ok(Model, `no upstream model for kind ${obj.kind}`);
  new Model(obj as never).validate();
  const type = `V1${obj.kind}`;
  const round = ObjectSerializer.serialize(ObjectSerializer.deserialize(obj, type, ''), type, '');
  assert.deepEqual(
    sortKeys(round),
    sortKeys(JSON.parse(JSON.stringify(obj))),
    `${obj.kind} ${obj.metadata?.name} has fields the API lacks`,
  );
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, x]) => [k, sortKeys(x)]),
    );
  return v;
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

// ---- NetworkPolicy semantics (networking.k8s.io/v1), enough for the cage's policies ----

export type Endpoint =
  { pod: Record<string, string>; namespace: string; nsLabels?: Record<string, string> } | { ip: string };

function labelsMatch(
  sel: { matchLabels?: Record<string, string> } | undefined,
  labels: Record<string, string>,
): boolean {
  // An empty selector selects everything; matchExpressions are not used by the renderer.
  return Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  if (ip.includes(':') !== cidr.includes(':')) return false;
  if (ip.includes(':')) return cidr === '::/0' || cidr.split('/')[0] === ip;
  const [base, len] = cidr.split('/');
  const size = 2 ** (32 - Number(len));
  return Math.floor(ipToInt(ip) / size) === Math.floor(ipToInt(base) / size);
}

type Peer = NonNullable<NonNullable<INetworkPolicy['spec']>['egress']>[number]['to'];

function peerMatches(peers: Peer, other: Endpoint, policyNs: string): boolean {
  if (peers === undefined) return true; // no "to"/"from": every peer
  return peers.some((p) => {
    if (p.ipBlock) {
      if (!('ip' in other)) return false;
      return inCidr(other.ip, p.ipBlock.cidr) && !(p.ipBlock.except ?? []).some((e) => inCidr(other.ip, e));
    }
    if (!('pod' in other)) return false;
    const nsOk = p.namespaceSelector
      ? labelsMatch(p.namespaceSelector, other.nsLabels ?? {})
      : other.namespace === policyNs;
    const podOk = p.podSelector ? labelsMatch(p.podSelector, other.pod) : true;
    return nsOk && podOk;
  });
}

function portMatches(
  ports: { protocol?: string; port?: number | string }[] | undefined,
  port: number,
  proto: string,
) {
  if (ports === undefined) return true;
  return ports.some((p) => (p.protocol ?? 'TCP') === proto && (p.port === undefined || p.port === port));
}

/** Whether `direction` traffic of the pod (labels in ns) to/from `other` on port/proto is allowed. */
export function npAllows(
  policies: INetworkPolicy[],
  direction: 'Egress' | 'Ingress',
  pod: Record<string, string>,
  ns: string,
  other: Endpoint,
  port: number,
  proto: 'TCP' | 'UDP' = 'TCP',
): boolean {
  const selecting = policies.filter(
    (p) =>
      (p.metadata?.namespace ?? 'default') === ns &&
      labelsMatch(p.spec!.podSelector, pod) &&
      (p.spec!.policyTypes ?? []).includes(direction),
  );
  if (selecting.length === 0) return true; // not isolated
  return selecting.some((p) => {
    const rules = direction === 'Egress' ? (p.spec!.egress ?? []) : (p.spec!.ingress ?? []);
    return rules.some(
      (r) =>
        peerMatches(('to' in r ? r.to : (r as { from?: Peer }).from) as Peer, other, ns) &&
        portMatches(r.ports as never, port, proto),
    );
  });
}
