// An in-memory Kubernetes API store with the semantics the controller depends on:
// - resourceVersion on every write, 409 Conflict for a stale one, 409 AlreadyExists, 404 NotFound;
// - metadata.generation bumped only when something other than metadata/status changes;
// - the status subresource (main-resource writes ignore .status; status writes touch only it);
// - finalizers block deletion (deletionTimestamp set, object kept until the list is empty);
// - garbage collection of dependents whose owners (by uid) are all gone;
// - server-side apply with field ownership per manager and conflicts unless forced (ssa.ts);
// - watches from a resourceVersion with replay, bookmarks, and 410 Gone once history is compacted;
// - Service clusterIP allocation (the controller renders the agent with the DNS Service's IP).
// It answers with deep copies, as a wire would, so callers never share state with it.
import { randomUUID } from 'node:crypto';
import {
  alreadyExists,
  ApiError,
  applyConflict,
  invalid,
  notFound,
  staleConflict,
  statusObject,
} from './errors.ts';
import { deepEqual, isPlainObject } from './json.ts';
import { parseLabelSelector, type LabelTest } from './label-selector.ts';
import { applyFields, toFieldsV1, updateOwnership, type Manager } from './ssa.ts';
import {
  apiVersionOf,
  objectKey,
  type ApiClient,
  type ApplyOptions,
  type DeleteOptions,
  type KubeList,
  type KubeObject,
  type ListOptions,
  type ResourceType,
  type WatchEvent,
  type WatchHandle,
  type WatchOptions,
} from './types.ts';

export interface MemoryApiServerOptions {
  /** Events kept for watches that resume from a resourceVersion; older ones get 410 Gone. */
  historyLimit?: number;
  now?: () => Date;
}

interface Stored {
  type: ResourceType;
  obj: KubeObject; // without managedFields
  managers: Manager[];
  /** The object as the API answers it (managedFields included), serialised once per version. */
  json?: string;
}

interface LoggedEvent {
  rv: number;
  tkey: string;
  namespace?: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  json: string;
  labels: Record<string, string>;
  prevLabels?: Record<string, string>;
}

const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const tkeyOf = (t: ResourceType) => `${apiVersionOf(t)}/${t.kind}`;

class MemoryWatch implements WatchHandle {
  done: Promise<Error | null>;
  private resolve!: (e: Error | null) => void;
  private queue: WatchEvent[] = [];
  private scheduled = false;
  stopped = false;
  timer?: NodeJS.Timeout;

  constructor(
    readonly tkey: string,
    readonly namespace: string | undefined,
    readonly test: LabelTest,
    readonly bookmarks: boolean,
    private readonly onEvent: (e: WatchEvent) => void,
    private readonly onEnd: (w: MemoryWatch) => void,
  ) {
    this.done = new Promise((r) => (this.resolve = r));
  }

  push(e: WatchEvent) {
    if (this.stopped) return;
    this.queue.push(e);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush() {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const e of batch) {
      if (this.stopped) return;
      try {
        this.onEvent(e);
      } catch (err) {
        this.end(err instanceof Error ? err : new Error(String(err)));
        return;
      }
    }
    if (this.closing && this.queue.length === 0) this.end(null);
  }

  private closing = false;
  /** Ends the stream once what is queued has been delivered (as a server closing after an ERROR). */
  closeAfterFlush() {
    this.closing = true;
    if (!this.scheduled) this.end(null);
  }

  end(err: Error | null) {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.queue = [];
    this.onEnd(this);
    this.resolve(err);
  }

  stop() {
    this.end(null);
  }
}

export class MemoryApiServer implements ApiClient {
  private rv = 0;
  private tables = new Map<string, Map<string, Stored>>();
  private log: LoggedEvent[] = [];
  private logStart = 0;
  /** Events with rv <= compactedRv are no longer in the history. */
  private compactedRv = 0;
  private watches = new Set<MemoryWatch>();
  private byUid = new Map<string, Stored>();
  private dependents = new Map<string, Set<Stored>>();
  private nextClusterIP = 10;
  private readonly historyLimit: number;
  private readonly now: () => Date;
  /** Fault injection for tests: called before every call; throw to fail it. */
  beforeCall?: (verb: string, type: ResourceType, name?: string) => void;

  constructor(opts: MemoryApiServerOptions = {}) {
    this.historyLimit = opts.historyLimit ?? 100_000;
    this.now = opts.now ?? (() => new Date());
  }

  // ---- the ApiClient calls ----

  async get(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<KubeObject | undefined> {
    this.beforeCall?.('get', type, name);
    const s = this.table(type).get(objectKey(ns(type, namespace), name));
    return s ? this.present(s) : undefined;
  }

  async list(type: ResourceType, namespace: string | undefined, opts: ListOptions = {}): Promise<KubeList> {
    this.beforeCall?.('list', type);
    const test = parseLabelSelector(opts.labelSelector);
    const items: KubeObject[] = [];
    for (const s of this.table(type).values()) {
      if (namespace !== undefined && s.obj.metadata.namespace !== namespace) continue;
      if (!test(s.obj.metadata.labels ?? {})) continue;
      items.push(this.present(s));
    }
    return { items, resourceVersion: String(this.rv) };
  }

  async watch(
    type: ResourceType,
    namespace: string | undefined,
    opts: WatchOptions,
    onEvent: (event: WatchEvent) => void,
  ): Promise<WatchHandle> {
    this.beforeCall?.('watch', type);
    const w = new MemoryWatch(
      tkeyOf(type),
      namespace,
      parseLabelSelector(opts.labelSelector),
      opts.allowWatchBookmarks ?? false,
      onEvent,
      (x) => this.watches.delete(x),
    );
    if (opts.timeoutSeconds) w.timer = setTimeout(() => w.end(null), opts.timeoutSeconds * 1000).unref();
    const from = opts.resourceVersion;
    if (from === '' || from === '0') {
      for (const s of this.table(type).values()) {
        if (namespace !== undefined && s.obj.metadata.namespace !== namespace) continue;
        if (!w.test(s.obj.metadata.labels ?? {})) continue;
        w.push({ type: 'ADDED', object: this.present(s) });
      }
    } else {
      const n = Number(from);
      if (!Number.isInteger(n) || n < 0) throw invalidRv(from);
      if (n < this.compactedRv) {
        w.push({
          type: 'ERROR',
          object: statusObject(410, 'Expired', `too old resource version: ${n} (${this.compactedRv})`),
        });
        w.closeAfterFlush();
        return w;
      }
      for (let i = this.logStart; i < this.log.length; i++) {
        if (this.log[i].rv > n) this.deliver(w, this.log[i]);
      }
    }
    this.watches.add(w);
    return w;
  }

  async apply(type: ResourceType, obj: KubeObject, opts: ApplyOptions): Promise<KubeObject> {
    this.beforeCall?.('apply', type, obj?.metadata?.name);
    this.checkShape(type, obj);
    const key = objectKey(ns(type, obj.metadata.namespace), obj.metadata.name);
    const cur = this.table(type).get(key);
    const sent = structuredClone(obj) as Record<string, unknown>;
    if (type.statusSubresource) delete sent.status;
    const time = rfc3339(this.now());
    const liveBody = cur ? (cur.obj as unknown as Record<string, unknown>) : undefined;
    const r = applyFields(liveBody, sent, cur?.managers ?? [], opts.fieldManager, opts.force, time);
    if (r.conflicts.length > 0 && !opts.force) throw applyConflict(type, obj.metadata.name, r.conflicts);
    const next = r.object as unknown as KubeObject;
    next.apiVersion = apiVersionOf(type);
    next.kind = type.kind;
    if (!cur) {
      next.metadata = { ...next.metadata, name: obj.metadata.name };
      if (type.namespaced) next.metadata.namespace = obj.metadata.namespace;
      return this.present(this.insert(type, next, r.managers));
    }
    this.checkFinalizers(type, cur.obj, next);
    const changed = !deepEqual(next, cur.obj) || !sameOwnership(cur.managers, r.managers);
    if (!changed) return this.present(cur);
    return this.present(this.replace(cur, next, r.managers));
  }

  async delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<boolean> {
    this.beforeCall?.('delete', type, name);
    const key = objectKey(ns(type, namespace), name);
    const cur = this.table(type).get(key);
    if (!cur) throw notFound(type, name);
    if (opts.uid !== undefined && cur.obj.metadata.uid !== opts.uid) {
      throw new ApiError(
        statusObject(
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${type.plural} "${name}": Precondition failed: UID in precondition: ${opts.uid}, UID in object meta: ${cur.obj.metadata.uid}`,
        ),
      );
    }
    this.deleteStored(cur, opts.propagationPolicy ?? 'Background');
    return false;
  }

  async patchStatus(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    status: Record<string, unknown>,
    opts: { fieldManager: string; resourceVersion?: string },
  ): Promise<KubeObject> {
    this.beforeCall?.('patchStatus', type, name);
    if (!type.statusSubresource) throw notFound(type, `${name}/status`);
    const cur = this.mustGet(type, namespace, name);
    if (opts.resourceVersion !== undefined && opts.resourceVersion !== cur.obj.metadata.resourceVersion)
      throw staleConflict(type, name);
    const next = structuredClone(cur.obj);
    next.status = mergePatch(next.status, status);
    if (deepEqual(next, cur.obj)) return this.present(cur);
    const managers = updateOwnership(
      cur.obj as unknown as Record<string, unknown>,
      next as unknown as Record<string, unknown>,
      cur.managers,
      opts.fieldManager,
      rfc3339(this.now()),
      'status',
      'status',
    );
    return this.present(this.replace(cur, next, managers));
  }

  async patchFinalizers(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    finalizers: string[],
    opts: { fieldManager: string; resourceVersion: string },
  ): Promise<KubeObject> {
    this.beforeCall?.('patchFinalizers', type, name);
    const cur = this.mustGet(type, namespace, name);
    if (opts.resourceVersion !== cur.obj.metadata.resourceVersion) throw staleConflict(type, name);
    const next = structuredClone(cur.obj);
    if (finalizers.length > 0) next.metadata.finalizers = [...finalizers];
    else delete next.metadata.finalizers;
    return this.writeUpdate(cur, next, opts.fieldManager, 'metadata');
  }

  async create(type: ResourceType, obj: KubeObject, opts: { fieldManager: string }): Promise<KubeObject> {
    this.beforeCall?.('create', type, obj?.metadata?.name);
    this.checkShape(type, obj);
    const key = objectKey(ns(type, obj.metadata.namespace), obj.metadata.name);
    if (this.table(type).has(key)) throw alreadyExists(type, obj.metadata.name);
    const next = structuredClone(obj);
    stripServerMeta(next);
    if (type.statusSubresource) delete next.status;
    const managers = updateOwnership(
      undefined,
      next as unknown as Record<string, unknown>,
      [],
      opts.fieldManager,
      rfc3339(this.now()),
    );
    return this.present(this.insert(type, next, managers));
  }

  async update(type: ResourceType, obj: KubeObject, opts: { fieldManager: string }): Promise<KubeObject> {
    this.beforeCall?.('update', type, obj?.metadata?.name);
    this.checkShape(type, obj);
    const cur = this.mustGet(type, obj.metadata.namespace, obj.metadata.name);
    const rv = obj.metadata.resourceVersion;
    if (rv === undefined || rv === '')
      throw invalid(
        type,
        obj.metadata.name,
        'metadata.resourceVersion: Invalid value: must be specified for an update',
      );
    if (rv !== cur.obj.metadata.resourceVersion) throw staleConflict(type, obj.metadata.name);
    const next = structuredClone(obj);
    next.metadata = { ...next.metadata };
    const meta = next.metadata as Record<string, unknown>;
    for (const k of ['uid', 'creationTimestamp', 'deletionTimestamp', 'generation']) {
      if (cur.obj.metadata[k] !== undefined) meta[k] = cur.obj.metadata[k];
      else delete meta[k];
    }
    delete next.metadata.managedFields;
    if (type.statusSubresource) {
      if (cur.obj.status !== undefined) next.status = structuredClone(cur.obj.status);
      else delete next.status;
    }
    return this.writeUpdate(cur, next, opts.fieldManager);
  }

  // ---- test controls ----

  /** Ends every open watch with an error, as a dropped connection would. */
  dropWatches(reason = 'connection reset by peer'): number {
    const all = [...this.watches];
    for (const w of all) w.end(new Error(reason));
    return all.length;
  }

  /** Forgets the event history: watches resuming from an older resourceVersion get 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.log = [];
    this.logStart = 0;
  }

  /** Sends a BOOKMARK with the current resourceVersion to every watch that asked for them. */
  sendBookmarks(): void {
    for (const w of this.watches) {
      if (!w.bookmarks) continue;
      const [apiVersion, kind] = splitTkey(w.tkey);
      w.push({
        type: 'BOOKMARK',
        object: { apiVersion, kind, metadata: { name: '', resourceVersion: String(this.rv) } },
      });
    }
  }

  openWatches(): number {
    return this.watches.size;
  }

  currentResourceVersion(): string {
    return String(this.rv);
  }

  /** Every stored object of a type (test assertions), as the API would answer them. */
  all(type: ResourceType): KubeObject[] {
    return [...this.table(type).values()].map((s) => this.present(s));
  }

  count(type: ResourceType): number {
    return this.table(type).size;
  }

  // ---- internals ----

  private table(type: ResourceType): Map<string, Stored> {
    const k = tkeyOf(type);
    let t = this.tables.get(k);
    if (!t) this.tables.set(k, (t = new Map()));
    return t;
  }

  private mustGet(type: ResourceType, namespace: string | undefined, name: string): Stored {
    const s = this.table(type).get(objectKey(ns(type, namespace), name));
    if (!s) throw notFound(type, name);
    return s;
  }

  private checkShape(type: ResourceType, obj: KubeObject) {
    const name = obj?.metadata?.name;
    if (!isPlainObject(obj) || !isPlainObject(obj.metadata) || typeof name !== 'string' || name === '')
      throw invalid(type, String(name ?? ''), 'metadata.name: Required value: name is required');
    if (obj.apiVersion !== apiVersionOf(type) || obj.kind !== type.kind)
      throw invalid(
        type,
        name,
        `apiVersion/kind: Invalid value: "${obj.apiVersion}/${obj.kind}": expected "${apiVersionOf(type)}/${type.kind}"`,
      );
    if (type.namespaced && !obj.metadata.namespace)
      throw invalid(type, name, 'metadata.namespace: Required value');
  }

  private checkFinalizers(type: ResourceType, before: KubeObject, after: KubeObject) {
    if (!before.metadata.deletionTimestamp) return;
    const old = new Set(before.metadata.finalizers ?? []);
    const added = (after.metadata.finalizers ?? []).filter((f) => !old.has(f));
    if (added.length > 0)
      throw invalid(
        type,
        before.metadata.name,
        `metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
      );
  }

  /** A whole-object write (update, finalizer patch): ownership, generation, deletion. */
  private writeUpdate(cur: Stored, next: KubeObject, manager: string, scope?: string): KubeObject {
    this.checkFinalizers(cur.type, cur.obj, next);
    if (deepEqual(next, cur.obj)) return this.present(cur);
    const managers = updateOwnership(
      cur.obj as unknown as Record<string, unknown>,
      next as unknown as Record<string, unknown>,
      cur.managers,
      manager,
      rfc3339(this.now()),
      undefined,
      scope,
    );
    const s = this.replace(cur, next, managers);
    if (s.obj.metadata.deletionTimestamp && (s.obj.metadata.finalizers ?? []).length === 0) {
      const out = this.present(s);
      this.remove(s);
      return out;
    }
    return this.present(s);
  }

  private insert(type: ResourceType, obj: KubeObject, managers: Manager[]): Stored {
    const m = obj.metadata;
    m.uid = randomUUID();
    m.creationTimestamp = rfc3339(this.now());
    m.generation = 1;
    delete m.deletionTimestamp;
    if (type.kind === 'Service' && type.group === '') this.allocateClusterIP(obj);
    const s: Stored = { type, obj, managers };
    this.commit(s, 'ADDED');
    this.table(type).set(objectKey(m.namespace, m.name), s);
    this.byUid.set(m.uid, s);
    this.indexOwners(s, undefined);
    return s;
  }

  private replace(cur: Stored, next: KubeObject, managers: Manager[]): Stored {
    const prevLabels = cur.obj.metadata.labels ?? {};
    const prevOwners = cur.obj.metadata.ownerReferences;
    next.metadata.uid = cur.obj.metadata.uid;
    next.metadata.creationTimestamp = cur.obj.metadata.creationTimestamp;
    next.metadata.generation =
      (cur.obj.metadata.generation ?? 1) + (specChanged(cur.type, cur.obj, next) ? 1 : 0);
    if (cur.type.kind === 'Service' && cur.type.group === '') keepClusterIP(cur.obj, next);
    cur.obj = next;
    cur.managers = managers;
    this.commit(cur, 'MODIFIED', prevLabels);
    this.indexOwners(cur, prevOwners);
    return cur;
  }

  private deleteStored(s: Stored, policy: 'Background' | 'Foreground' | 'Orphan') {
    if ((s.obj.metadata.finalizers ?? []).length > 0) {
      if (s.obj.metadata.deletionTimestamp) return;
      const next = structuredClone(s.obj);
      next.metadata.deletionTimestamp = rfc3339(this.now());
      next.metadata.deletionGracePeriodSeconds = 0;
      this.replace(s, next, s.managers);
      return;
    }
    this.remove(s, policy);
  }

  private remove(s: Stored, policy: 'Background' | 'Foreground' | 'Orphan' = 'Background') {
    const m = s.obj.metadata;
    this.table(s.type).delete(objectKey(m.namespace, m.name));
    this.byUid.delete(m.uid!);
    this.indexOwners(s, m.ownerReferences, true);
    this.commit(s, 'DELETED', m.labels ?? {});
    this.collectDependents(m.uid!, policy);
  }

  /** The garbage collector: dependents left with no live owner go too (or lose the reference). */
  private collectDependents(uid: string, policy: 'Background' | 'Foreground' | 'Orphan') {
    const deps = this.dependents.get(uid);
    this.dependents.delete(uid);
    if (!deps) return;
    for (const d of deps) {
      if (!this.byUid.has(d.obj.metadata.uid!)) continue;
      const refs = d.obj.metadata.ownerReferences ?? [];
      if (policy === 'Orphan' || refs.some((r) => r.uid !== uid && this.byUid.has(r.uid))) {
        const next = structuredClone(d.obj);
        next.metadata.ownerReferences = refs.filter((r) => r.uid !== uid);
        if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
        this.replace(d, next, d.managers);
        continue;
      }
      this.deleteStored(d, 'Background');
    }
  }

  private indexOwners(s: Stored, previous: KubeObject['metadata']['ownerReferences'], removing = false) {
    for (const r of previous ?? []) this.dependents.get(r.uid)?.delete(s);
    if (removing) return;
    for (const r of s.obj.metadata.ownerReferences ?? []) {
      let set = this.dependents.get(r.uid);
      if (!set) this.dependents.set(r.uid, (set = new Set()));
      set.add(s);
    }
  }

  private commit(s: Stored, type: LoggedEvent['type'], prevLabels?: Record<string, string>) {
    this.rv++;
    s.obj.metadata.resourceVersion = String(this.rv);
    const e: LoggedEvent = {
      rv: this.rv,
      tkey: tkeyOf(s.type),
      namespace: s.obj.metadata.namespace,
      type,
      json: (s.json = JSON.stringify(this.withManagedFields(s))),
      labels: s.obj.metadata.labels ?? {},
      prevLabels,
    };
    this.log.push(e);
    if (this.log.length - this.logStart > this.historyLimit) {
      this.compactedRv = this.log[this.logStart].rv;
      this.logStart++;
      if (this.logStart > 4096 && this.logStart * 2 > this.log.length) {
        this.log = this.log.slice(this.logStart);
        this.logStart = 0;
      }
    }
    for (const w of this.watches) this.deliver(w, e);
  }

  private deliver(w: MemoryWatch, e: LoggedEvent) {
    if (w.tkey !== e.tkey) return;
    if (w.namespace !== undefined && w.namespace !== e.namespace) return;
    const now = w.test(e.labels);
    const before = e.prevLabels !== undefined && e.type === 'MODIFIED' ? w.test(e.prevLabels) : now;
    let type: WatchEvent['type'];
    if (e.type === 'MODIFIED') {
      if (now && before) type = 'MODIFIED';
      else if (now) type = 'ADDED';
      else if (before) type = 'DELETED';
      else return;
    } else {
      if (!now) return;
      type = e.type;
    }
    w.push({ type, object: JSON.parse(e.json) as KubeObject });
  }

  private withManagedFields(s: Stored): KubeObject {
    const managedFields = s.managers.map((m) => ({
      manager: m.manager,
      operation: m.operation,
      apiVersion: apiVersionOf(s.type),
      time: m.time,
      fieldsType: 'FieldsV1' as const,
      fieldsV1: toFieldsV1(m.fields),
      ...(m.subresource ? { subresource: m.subresource } : {}),
    }));
    return { ...s.obj, metadata: { ...s.obj.metadata, managedFields } };
  }

  private present(s: Stored): KubeObject {
    s.json ??= JSON.stringify(this.withManagedFields(s));
    return JSON.parse(s.json) as KubeObject;
  }

  private allocateClusterIP(obj: KubeObject) {
    const spec = (obj.spec ?? (obj.spec = {})) as Record<string, unknown>;
    if (spec.type === 'ExternalName' || spec.clusterIP !== undefined) return;
    const n = this.nextClusterIP++;
    spec.clusterIP = `10.96.${(n >> 8) & 255}.${n & 255}`;
    spec.clusterIPs = [spec.clusterIP];
  }
}

function ns(type: ResourceType, namespace: string | undefined): string | undefined {
  return type.namespaced ? namespace : undefined;
}

function splitTkey(tkey: string): [string, string] {
  const i = tkey.lastIndexOf('/');
  return [tkey.slice(0, i), tkey.slice(i + 1)];
}

function invalidRv(rv: string): ApiError {
  return new ApiError(statusObject(400, 'BadRequest', `invalid resource version: "${rv}"`));
}

function stripServerMeta(obj: KubeObject) {
  const m = obj.metadata;
  for (const k of [
    'uid',
    'resourceVersion',
    'generation',
    'creationTimestamp',
    'deletionTimestamp',
    'managedFields',
  ])
    delete m[k];
}

/** The part of an object whose change bumps metadata.generation. */
function specChanged(type: ResourceType, a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => {
    const rest: Record<string, unknown> = { ...o };
    delete rest.metadata;
    if (type.statusSubresource) delete rest.status;
    return rest;
  };
  return !deepEqual(strip(a), strip(b));
}

function keepClusterIP(before: KubeObject, after: KubeObject) {
  const b = before.spec as Record<string, unknown> | undefined;
  const a = (after.spec ?? (after.spec = {})) as Record<string, unknown>;
  if (b?.clusterIP !== undefined && a.clusterIP === undefined) {
    a.clusterIP = b.clusterIP;
    a.clusterIPs = b.clusterIPs;
  }
}

function sameOwnership(a: Manager[], b: Manager[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((m, i) => {
    const o = b[i];
    if (m.manager !== o.manager || m.operation !== o.operation || m.fields.size !== o.fields.size)
      return false;
    for (const p of m.fields) if (!o.fields.has(p)) return false;
    return true;
  });
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
