// The slice of the Kubernetes API the operator uses, as one interface with two implementations:
// the in-memory API store (tests, bench) and the thin adapter over @kubernetes/client-node.
// Objects travel as plain JSON, exactly as the API server sends them.

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  managedFields?: ManagedFieldsEntry[];
  [k: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

export interface KubeList {
  items: KubeObject[];
  resourceVersion: string;
}

/** A resource the operator reads or writes: enough to build its URL and its RBAC rule. */
export interface ResourceType {
  group: string; // '' for the core group
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  /** Has a /status subresource: writes to the main resource ignore .status and vice versa. */
  statusSubresource?: boolean;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  type: WatchEventType;
  /** For ERROR: a Status object (code 410 = the resourceVersion is too old). */
  object: KubeObject | StatusObject;
}

/** The API server's Status object, as it answers errors. */
export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  code: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: { type?: string; message?: string; field?: string }[];
  };
}

export interface ListOptions {
  labelSelector?: string;
}

export interface WatchOptions extends ListOptions {
  resourceVersion: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

/** A running watch. `done` settles when the stream ends: null for a clean close, else the error. */
export interface WatchHandle {
  stop(): void;
  done: Promise<Error | null>;
}

export interface ApplyOptions {
  fieldManager: string;
  force: boolean;
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  /** Delete only if the object still has this uid (never a namesake created meanwhile). */
  uid?: string;
}

/**
 * Exactly the calls the controller makes. `namespace` is undefined for cluster-scoped kinds
 * and, on list/watch, for "all namespaces".
 */
export interface ApiClient {
  get(type: ResourceType, namespace: string | undefined, name: string): Promise<KubeObject | undefined>;
  list(type: ResourceType, namespace: string | undefined, opts?: ListOptions): Promise<KubeList>;
  watch(
    type: ResourceType,
    namespace: string | undefined,
    opts: WatchOptions,
    onEvent: (event: WatchEvent) => void,
  ): Promise<WatchHandle>;
  /** Server-side apply: PATCH application/apply-patch+yaml. Creates the object if absent. */
  apply(type: ResourceType, obj: KubeObject, opts: ApplyOptions): Promise<KubeObject>;
  /** Returns true when the object was gone already (404), false when deleted or deletion started. */
  delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    opts?: DeleteOptions,
  ): Promise<boolean>;
  /** JSON merge patch of the /status subresource; resourceVersion, when given, is a precondition. */
  patchStatus(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    status: Record<string, unknown>,
    opts: { fieldManager: string; resourceVersion?: string },
  ): Promise<KubeObject>;
  /** JSON merge patch of metadata.finalizers, guarded by resourceVersion (409 when stale). */
  patchFinalizers(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    finalizers: string[],
    opts: { fieldManager: string; resourceVersion: string },
  ): Promise<KubeObject>;
  create(type: ResourceType, obj: KubeObject, opts: { fieldManager: string }): Promise<KubeObject>;
  /** PUT: replaces the object; metadata.resourceVersion must match (409 when stale). */
  update(type: ResourceType, obj: KubeObject, opts: { fieldManager: string }): Promise<KubeObject>;
}

export function apiVersionOf(t: ResourceType): string {
  return t.group === '' ? t.version : `${t.group}/${t.version}`;
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function keyOf(obj: KubeObject): string {
  return objectKey(obj.metadata.namespace, obj.metadata.name);
}
