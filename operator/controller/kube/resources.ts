// Every resource type the operator touches, in one table: URL paths, informers and the chart's
// RBAC rules are all derived from it.
import { GROUP, KIND, PLURAL, VERSION } from '../../api/cage.ts';
import { apiVersionOf, type ResourceType } from './types.ts';

export const CAGES: ResourceType = {
  group: GROUP,
  version: VERSION,
  kind: KIND,
  plural: PLURAL,
  namespaced: true,
  statusSubresource: true,
};
export const CONFIGMAPS: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};
export const SECRETS: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'Secret',
  plural: 'secrets',
  namespaced: true,
};
export const SERVICES: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'Service',
  plural: 'services',
  namespaced: true,
  statusSubresource: true,
};
export const PODS: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'Pod',
  plural: 'pods',
  namespaced: true,
  statusSubresource: true,
};
export const DEPLOYMENTS: ResourceType = {
  group: 'apps',
  version: 'v1',
  kind: 'Deployment',
  plural: 'deployments',
  namespaced: true,
  statusSubresource: true,
};
export const NETWORKPOLICIES: ResourceType = {
  group: 'networking.k8s.io',
  version: 'v1',
  kind: 'NetworkPolicy',
  plural: 'networkpolicies',
  namespaced: true,
};
export const EVENTS: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'Event',
  plural: 'events',
  namespaced: true,
};
export const LEASES: ResourceType = {
  group: 'coordination.k8s.io',
  version: 'v1',
  kind: 'Lease',
  plural: 'leases',
  namespaced: true,
};

/**
 * Kinds a Cage owns: what the renderer produces plus the operator's own Secrets. Each gets an
 * informer and RBAC list/watch/get/patch/delete, so nothing else belongs here; the reconciler
 * refuses a render that strays outside.
 */
export const OWNED_TYPES: ResourceType[] = [
  CONFIGMAPS,
  SECRETS,
  SERVICES,
  PODS,
  DEPLOYMENTS,
  NETWORKPOLICIES,
];

const ALL = [CAGES, ...OWNED_TYPES, EVENTS, LEASES];

export function typeKey(apiVersion: string, kind: string): string {
  return `${apiVersion}/${kind}`;
}

const byKey = new Map(ALL.map((t) => [typeKey(apiVersionOf(t), t.kind), t]));

export function resourceTypeFor(apiVersion: string, kind: string): ResourceType | undefined {
  return byKey.get(typeKey(apiVersion, kind));
}
