// Object names and labels of one cage: every renderer and controller derives them here.
import type { Cage } from '../api/cage.ts';

export type Component = 'agent' | 'proxy' | 'dns';

export function cageNames(cage: Cage) {
  const n = cage.metadata.name;
  return {
    cage: n,
    agent: `${n}-agent`,
    proxy: `${n}-proxy`,
    dns: `${n}-dns`,
    policyConfigMap: `${n}-proxy-policy`,
    dnsmasqConfigMap: `${n}-dnsmasq`,
    caConfigMap: `${n}-ca`,
    caSecret: `${n}-proxy-ca`,
    /** Kubernetes: secrets without a secretKeyRef are read from this Secret, key = secret name. */
    valuesSecret: `${n}-secrets`,
    /** podman */
    network: `agentcage-${n}`,
    podmanSecret: (secretName: string) => `agentcage-${n}-${secretName}`,
    /**
     * podman shares emptyDir volumes by name across pods: every name carries the cage's, length-prefixed
     * so that no two (cage, volume) pairs map to one name (cage "a" + "b-tmp" vs cage "a-b" + "tmp").
     */
    volume: (vol: string) => `c${n.length}-${n}-${vol}`,
  };
}

export const LABEL = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  partOf: 'app.kubernetes.io/part-of',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

// The keys below are LABEL's, written out: literal keys let V8 build these objects from one
// template (computed keys and a spread made labels() a tenth of a render).

/** The labels that select one component's pods (stable: never change them on a running cage). */
export function selectorLabels(cage: Cage, component: Component): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'agentcage',
    'app.kubernetes.io/instance': cage.metadata.name,
    'app.kubernetes.io/component': component,
  };
}

export function labels(cage: Cage, component: Component): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'agentcage',
    'app.kubernetes.io/instance': cage.metadata.name,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': 'agentcage',
    'app.kubernetes.io/managed-by': 'agentcage-operator',
  };
}
