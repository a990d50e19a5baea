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
export const SERVICEACCOUNTS: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'ServiceAccount',
  plural: 'serviceaccounts',
  namespaced: true,
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
export const PVCS: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'PersistentVolumeClaim',
  plural: 'persistentvolumeclaims',
  namespaced: true,
  statusSubresource: true,
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

/** Kinds a Cage may own: the renderer's output must stay within these (the reconciler checks). */
export const OWNED_TYPES: ResourceType[] = [
  CONFIGMAPS,
  SECRETS,
  SERVICES,
  SERVICEACCOUNTS,
  PODS,
  DEPLOYMENTS,
  NETWORKPOLICIES,
  PVCS,
];

const ALL = [CAGES, ...OWNED_TYPES, EVENTS, LEASES];

export function typeKey(apiVersion: string, kind: string): string {
  return `${apiVersion}/${kind}`;
}

const byKey = new Map(ALL.map((t) => [typeKey(apiVersionOf(t), t.kind), t]));

export function resourceTypeFor(apiVersion: string, kind: string): ResourceType | undefined {
  return byKey.get(typeKey(apiVersion, kind));
}
