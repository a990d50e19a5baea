// Server-side apply field ownership, as the in-memory API store keeps it: every leaf field of an
// object is owned by the managers that set it. An apply owns exactly the fields it sends, drops
// the fields it sent last time and no longer sends (unless another manager owns them too), and
// conflicts with another manager's field whose value it would change, unless forced.
//
// Lists of objects are merged by key like the API server's list-map types (`name`, else
// `containerPort`/`port` plus `protocol`, `uid`, `type`); other lists are atomic values.
import { clone, deepEqual, isPlainObject } from './json.ts';

/** One path segment: `f:<field>` in a map, `k:<json key>` in a keyed list. */
export type Segment = string;
/** A path encoded as a string, so fields can live in Sets. */
export type FieldPath = string;

const SEP = '\u0000';
export const encodePath = (segs: Segment[]): FieldPath => segs.join(SEP);
export const decodePath = (p: FieldPath): Segment[] => (p === '' ? [] : p.split(SEP));

// Fields the server owns: never in a field set, never merged from an apply.
const SERVER_META = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
  'generateName',
]);

export function listKeyFields(list: unknown[]): string[] | undefined {
  if (list.length === 0 || !list.every(isPlainObject)) return undefined;
  const all = (f: string) => list.every((e) => (e as Record<string, unknown>)[f] !== undefined);
  for (const f of ['name', 'uid', 'type']) if (all(f)) return [f];
  for (const f of ['containerPort', 'port']) if (all(f)) return all('protocol') ? [f, 'protocol'] : [f];
  return undefined;
}

function keySegment(elem: Record<string, unknown>, keys: string[]): Segment {
  const k: Record<string, unknown> = {};
  for (const f of [...keys].sort()) k[f] = elem[f];
  return `k:${JSON.stringify(k)}`;
}

function matchesKey(elem: unknown, seg: Segment): boolean {
  if (!isPlainObject(elem)) return false;
  const k = JSON.parse(seg.slice(2)) as Record<string, unknown>;
  return Object.keys(k).every((f) => deepEqual(elem[f], k[f]));
}

/** The leaf fields of an object and their values (top-level apiVersion/kind and server metadata excluded). */
export function fieldEntries(obj: Record<string, unknown>): Map<FieldPath, unknown> {
  const out = new Map<FieldPath, unknown>();
  const walk = (v: unknown, path: FieldPath) => {
    if (isPlainObject(v)) {
      let any = false;
      for (const k in v) {
        const child = v[k];
        if (child === undefined) continue;
        any = true;
        if (path === '' && (k === 'apiVersion' || k === 'kind')) continue;
        if (path === 'f:metadata' && SERVER_META.has(k)) continue;
        walk(child, path === '' ? `f:${k}` : `${path}${SEP}f:${k}`);
      }
      if (any) return;
    } else if (Array.isArray(v)) {
      const keys = listKeyFields(v);
      if (keys) {
        for (const e of v as Record<string, unknown>[]) walk(e, `${path}${SEP}${keySegment(e, keys)}`);
        return;
      }
    }
    if (path !== '') out.set(path, v);
  };
  walk(obj, '');
  return out;
}

export function fieldSet(obj: Record<string, unknown>): Set<FieldPath> {
  return new Set(fieldEntries(obj).keys());
}

export function getAt(obj: unknown, path: FieldPath): unknown {
  let cur: unknown = obj;
  for (const seg of decodePath(path)) {
    if (seg.startsWith('f:')) {
      if (!isPlainObject(cur)) return undefined;
      cur = cur[seg.slice(2)];
    } else {
      if (!Array.isArray(cur)) return undefined;
      cur = cur.find((e) => matchesKey(e, seg));
    }
    if (cur === undefined) return undefined;
  }
  return cur;
}

function setAt(obj: Record<string, unknown>, path: FieldPath, value: unknown): void {
  const segs = decodePath(path);
  let cur: unknown = obj;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    const last = i === segs.length - 1;
    const nextIsKey = !last && segs[i + 1].startsWith('k:');
    if (seg.startsWith('f:')) {
      const m = cur as Record<string, unknown>;
      const f = seg.slice(2);
      if (last) {
        // An empty map owns the map, not what others put in it.
        if (!(isPlainObject(value) && Object.keys(value).length === 0 && isPlainObject(m[f])))
          m[f] = clone(value);
        return;
      }
      const fits = nextIsKey ? Array.isArray(m[f]) : isPlainObject(m[f]);
      if (!fits) m[f] = nextIsKey ? [] : {};
      cur = m[f];
    } else {
      const list = cur as unknown[];
      let elem = list.find((e) => matchesKey(e, seg));
      if (elem === undefined) {
        elem = { ...(JSON.parse(seg.slice(2)) as Record<string, unknown>) };
        list.push(elem);
      }
      if (last) return; // a keyed element with only its key fields
      cur = elem;
    }
  }
}

function deleteAt(obj: Record<string, unknown>, path: FieldPath): void {
  const segs = decodePath(path);
  const parents: { container: unknown; seg: Segment }[] = [];
  let cur: unknown = obj;
  for (const seg of segs) {
    parents.push({ container: cur, seg });
    if (seg.startsWith('f:')) cur = isPlainObject(cur) ? cur[seg.slice(2)] : undefined;
    else cur = Array.isArray(cur) ? cur.find((e) => matchesKey(e, seg)) : undefined;
    if (cur === undefined) return;
  }
  // Remove the leaf (a key field stays with its element), then every container the removal
  // left empty (a keyed element is empty when nothing but its key fields remains).
  const n = parents.length;
  const leaf = parents[n - 1].seg;
  const parentSeg = n >= 2 ? parents[n - 2].seg : undefined;
  const isKeyField =
    parentSeg !== undefined && parentSeg.startsWith('k:') && leaf.slice(2) in keyOf(parentSeg);
  if (!isKeyField) delete (parents[n - 1].container as Record<string, unknown>)[leaf.slice(2)];
  for (let i = n - 2; i >= 0; i--) {
    const { container, seg } = parents[i];
    if (seg.startsWith('f:')) {
      const m = container as Record<string, unknown>;
      if (!isEmpty(m[seg.slice(2)])) return;
      delete m[seg.slice(2)];
    } else {
      const list = container as unknown[];
      const idx = list.findIndex((e) => matchesKey(e, seg));
      const keyFields = Object.keys(keyOf(seg));
      if (!Object.keys(list[idx] as object).every((k) => keyFields.includes(k))) return;
      list.splice(idx, 1);
    }
  }
}

const keyOf = (seg: Segment) => JSON.parse(seg.slice(2)) as Record<string, unknown>;

function isEmpty(v: unknown): boolean {
  return (isPlainObject(v) && Object.keys(v).length === 0) || (Array.isArray(v) && v.length === 0);
}

/** One managedFields entry: who, how, and the fields it owns. */
export interface Manager {
  manager: string;
  operation: 'Apply' | 'Update';
  subresource?: string;
  time: string;
  fields: Set<FieldPath>;
}

export const managerId = (m: Pick<Manager, 'manager' | 'operation' | 'subresource'>) =>
  `${m.manager}\u0000${m.operation}\u0000${m.subresource ?? ''}`;

export interface Conflict {
  manager: string;
  field: string; // as the API server prints it: .data.key, .spec.containers[name="x"].image
}

export function printPath(path: FieldPath): string {
  return decodePath(path)
    .map((s) => {
      if (s.startsWith('f:')) return `.${s.slice(2)}`;
      const k = JSON.parse(s.slice(2)) as Record<string, unknown>;
      return `[${Object.entries(k)
        .map(([f, v]) => `${f}=${JSON.stringify(v)}`)
        .join(',')}]`;
    })
    .join('');
}

export interface ApplyResult {
  object: Record<string, unknown>;
  managers: Manager[];
  conflicts: Conflict[];
}

/**
 * Merges `applied` (sent by `manager`) into `live` (undefined: a create). With conflicts and
 * no force, returns the conflicts and leaves everything as it was.
 */
export function applyFields(
  live: Record<string, unknown> | undefined,
  applied: Record<string, unknown>,
  managers: Manager[],
  manager: string,
  force: boolean,
  time: string,
): ApplyResult {
  const self = { manager, operation: 'Apply' as const };
  const selfId = managerId(self);
  const sent = fieldEntries(applied);
  const have = live ? fieldEntries(live) : new Map<FieldPath, unknown>();
  const newSet = new Set(sent.keys());
  const conflicts: Conflict[] = [];
  const taken = new Map<string, Set<FieldPath>>();
  const changed: FieldPath[] = [];
  for (const [p, v] of sent) {
    const lv = have.get(p);
    if (lv !== undefined && deepEqual(lv, v)) continue;
    changed.push(p);
    if (lv === undefined) continue;
    for (const m of managers) {
      if (managerId(m) === selfId || !m.fields.has(p)) continue;
      conflicts.push({ manager: m.manager, field: printPath(p) });
      const id = managerId(m);
      if (!taken.has(id)) taken.set(id, new Set());
      taken.get(id)!.add(p);
    }
  }
  if (conflicts.length > 0 && !force) return { object: live ?? {}, managers, conflicts };

  if (!live) {
    // A create: the object is what was sent, owned wholly by its applier.
    const created = clone(applied);
    for (const k of Object.keys(created)) if (created[k] === undefined) delete created[k];
    return { object: created, managers: [{ ...self, time, fields: newSet }], conflicts: [] };
  }
  const result = clone(live) as Record<string, unknown>;
  const old = managers.find((m) => managerId(m) === selfId)?.fields ?? new Set<FieldPath>();
  const others = managers
    .filter((m) => managerId(m) !== selfId)
    .map((m) => {
      const lost = taken.get(managerId(m));
      if (!lost) return m;
      const fields = new Set([...m.fields].filter((p) => !lost.has(p)));
      return { ...m, fields };
    });
  for (const p of old) {
    if (newSet.has(p) || others.some((m) => m.fields.has(p))) continue;
    deleteAt(result, p);
  }
  for (const p of changed) setAt(result, p, sent.get(p));
  const next: Manager[] = [];
  let placed = false;
  for (const m of managers) {
    if (managerId(m) === selfId) {
      next.push({ ...self, time, fields: newSet });
      placed = true;
    } else {
      const o = others.find((x) => managerId(x) === managerId(m))!;
      if (o.fields.size > 0) next.push(o);
    }
  }
  if (!placed) next.push({ ...self, time, fields: newSet });
  return { object: result, managers: next, conflicts };
}

/**
 * Ownership after a non-apply write (create, update, patch) by `manager`: it owns what it
 * changed or added; fields that disappeared leave every owner.
 */
export function updateOwnership(
  before: Record<string, unknown> | undefined,
  after: Record<string, unknown>,
  managers: Manager[],
  manager: string,
  time: string,
  subresource?: string,
  /** Only this top-level field can have changed (status writes, finalizer patches): skip the rest. */
  scope?: string,
): Manager[] {
  const part = (o: Record<string, unknown> | undefined) => (scope ? { [scope]: o?.[scope] } : (o ?? {}));
  const inScope = (p: FieldPath) => !scope || p === `f:${scope}` || p.startsWith(`f:${scope}${SEP}`);
  const beforeE = fieldEntries(part(before));
  const afterE = fieldEntries(part(after));
  const changed = new Set<FieldPath>();
  for (const [p, v] of afterE) {
    const b = beforeE.get(p);
    if (b === undefined || !deepEqual(b, v)) changed.add(p);
  }
  const kept = (p: FieldPath) => !inScope(p) || afterE.has(p);
  const selfId = managerId({ manager, operation: 'Update', subresource });
  const next: Manager[] = [];
  let self: Manager | undefined;
  for (const m of managers) {
    let fields = m.fields;
    if ([...fields].some((p) => !kept(p) || (changed.has(p) && managerId(m) !== selfId)))
      fields = new Set([...fields].filter((p) => kept(p) && (managerId(m) === selfId || !changed.has(p))));
    if (managerId(m) === selfId) {
      if (changed.size > 0) fields = new Set([...fields, ...changed]);
      self = { ...m, time: changed.size > 0 ? time : m.time, fields };
      next.push(self);
      continue;
    }
    if (fields.size > 0) next.push(fields === m.fields ? m : { ...m, fields });
  }
  if (!self && changed.size > 0)
    next.push({ manager, operation: 'Update', subresource, time, fields: changed });
  return next;
}

const fieldsV1Cache = new WeakMap<Set<FieldPath>, Record<string, unknown>>();

/** managedFields[].fieldsV1: the field paths as the API server's nested `f:`/`k:` map. */
export function toFieldsV1(fields: Set<FieldPath>): Record<string, unknown> {
  // Field sets are never mutated once a Manager holds them, so the map can be kept.
  const hit = fieldsV1Cache.get(fields);
  if (hit) return hit;
  // Walks each path in place (no split into an array): every write's new field set passes here.
  // Segments start with f: or k:, so no lookup can reach a prototype property.
  const root: Record<string, unknown> = {};
  for (const p of fields) {
    if (p === '') continue;
    let cur = root;
    let start = 0;
    for (;;) {
      const end = p.indexOf(SEP, start);
      const seg = end < 0 ? p.slice(start) : p.slice(start, end);
      let next = cur[seg] as Record<string, unknown> | undefined;
      if (next === undefined) cur[seg] = next = {};
      cur = next;
      if (end < 0) break;
      start = end + 1;
    }
  }
  fieldsV1Cache.set(fields, root);
  return root;
}

/** The inverse of toFieldsV1 (a `.` entry marks a container itself and is not a leaf). */
export function fromFieldsV1(f: Record<string, unknown>): Set<FieldPath> {
  const out = new Set<FieldPath>();
  const walk = (node: Record<string, unknown>, segs: Segment[]) => {
    const keys = Object.keys(node).filter((k) => k !== '.');
    if (keys.length === 0 && segs.length > 0) out.add(encodePath(segs));
    for (const k of keys) walk(node[k] as Record<string, unknown>, [...segs, k]);
  };
  walk(f, []);
  return out;
}
