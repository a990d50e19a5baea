// One Cage's reconcile, in the usual order: read it from the cache; handle deletion through the
// finalizer (the agent goes first, so its NetworkPolicy and proxy outlive it); add the finalizer;
// validate with the zod schema (an invalid spec is reported and nothing running is touched);
// keep the CA and placeholders; render with the pure renderer; server-side apply only what
// changed, NetworkPolicies first; delete owned objects no longer wanted; write status conditions
// and Events for their transitions.
import type { Cage } from '../../api/cage.ts';
import {
  CAGES,
  DEPLOYMENTS,
  EVENTS,
  OWNED_TYPES,
  PODS,
  resourceTypeFor,
  SECRETS,
  SERVICES,
} from './resources.ts';
import { egressMode } from '../../api/cage.ts';
import { validateCage } from '../../api/load.ts';
import { resolvePlaceholders } from '../../api/placeholders.ts';
import { formatProblems, type FieldProblem } from '../../api/validation.ts';
import type { KubernetesContext, RenderImages } from '../../render/context.ts';
import { RenderError } from '../../render/context.ts';
import { cageNames } from '../../render/names.ts';
import {
  CA_ROTATE_BEFORE_MS,
  caSecret,
  decideCa,
  mintCageCa,
  placeholdersSecret,
  placeholdersSecretName,
  readCaSecret,
  readPlaceholders,
  type CaMaterial,
} from './cage-state.ts';
import {
  CNI_WARNING,
  CONDITION,
  mergeConditions,
  phaseOf,
  REASON,
  rfc3339,
  type ConditionUpdate,
  type Transition,
} from './conditions.ts';
import { deploymentAvailable } from './deployment-availability.ts';
import { ApiError, isApiError } from './errors.ts';
import type { Informer } from './informer.ts';
import { deepEqual, hashOf, isSubset } from './json.ts';
import type { Logger } from './log.ts';
import type { OperatorMetrics } from './metrics.ts';
import { apiVersionOf, type ApiClient, type KubeObject, type ResourceType } from './types.ts';
import type { ReconcileResult } from './metrics.ts';
import type { WorkResult } from './work-queue.ts';

export interface ReconcileOutcome extends WorkResult {
  result: ReconcileResult;
}

export const FINALIZER = 'agentcage.io/cleanup';
export const FIELD_MANAGER = 'agentcage';
/** The hash of what was last applied: an object whose hash and fields match is not re-applied. */
export const HASH_ANNOTATION = 'agentcage.io/applied-hash';
/** On pod templates: a new CA rolls the proxy. */
export const CA_ANNOTATION = 'agentcage.io/ca-sha256';
export const OWNER_INDEX = 'owner-uid';
/** Every Cage gets a full check (render, compare every field) this often even without events. */
export const DEFAULT_RESYNC_MS = 10 * 60_000;
/** How long after a full reconcile its applies are trusted while the watch catches up. */
const FRESH_MS = 30_000;

export type RenderFn = (cage: Cage, ctx: KubernetesContext) => unknown[];

export interface ReconcilerDeps {
  client: ApiClient;
  cages: Informer;
  /** One informer per owned kind, each with the OWNER_INDEX index. */
  owned: Map<string, Informer>;
  render: RenderFn;
  images?: Partial<RenderImages>;
  now?: () => Date;
  log: Logger;
  metrics?: OperatorMetrics;
  /** Re-check every Cage this often even without a change (drift, CA expiry). */
  resyncMs?: number;
  /** Who writes the Events. */
  instance: string;
}

/** An object of the same name exists and belongs to someone else: never take it over. */
export class NotOwnedError extends Error {}

const APPLY_ORDER = ['NetworkPolicy', 'Secret', 'ConfigMap', 'Service', 'Deployment', 'Pod'];

export function typeKeyOf(t: ResourceType): string {
  return `${apiVersionOf(t)}/${t.kind}`;
}

export function ownerUids(obj: KubeObject): string[] {
  return (obj.metadata.ownerReferences ?? []).filter((r) => r.kind === 'Cage').map((r) => r.uid);
}

function clusterIPOf(svc: KubeObject | undefined): string | undefined {
  const ip = (svc?.spec as { clusterIP?: string } | undefined)?.clusterIP;
  return ip && ip !== 'None' ? ip : undefined;
}

export class CageReconciler {
  private readonly now: () => Date;
  /**
   * Cages as this replica last wrote them (finalizer, status), keyed by namespace/name, with the
   * resourceVersion they replaced: until the cache moves past that version, the write is newer
   * than the cache. Without it the next reconcile would act on a stale Cage (409s on the
   * finalizer, transitions and Events repeated).
   */
  private writes = new Map<string, { replacedRv: string; obj: KubeObject }>();
  private caParsed = new Map<string, ParsedCa>();
  /** Per Cage: the inputs and object hashes of its last converged render (see fastPath). */
  private memo = new Map<string, Memo>();
  /**
   * Owned objects someone else changed (their hash stayed ours) or deleted, per Cage: the next
   * reconcile re-applies them instead of trusting the hash. Filled by the informer handlers,
   * emptied by a full reconcile of the Cage.
   */
  private drifted = new Map<string, Set<string>>(); // Cage key -> `${type}|${name}`

  constructor(private readonly d: ReconcilerDeps) {
    this.now = d.now ?? (() => new Date());
  }

  /** The cached Cage, or this replica's own newer write of it. */
  private current(key: string, cached: KubeObject | undefined): KubeObject | undefined {
    const w = this.writes.get(key);
    if (!w) return cached;
    if (
      cached &&
      cached.metadata.uid === w.obj.metadata.uid &&
      cached.metadata.resourceVersion === w.replacedRv
    )
      return w.obj;
    this.writes.delete(key); // the cache has caught up (or the Cage is gone)
    return cached;
  }

  /** The Cage informer saw a new version: any write of ours it replaces is now in the cache. */
  cageObserved(obj: KubeObject): void {
    const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
    const w = this.writes.get(key);
    if (w && obj.metadata.resourceVersion !== w.replacedRv) this.writes.delete(key);
  }

  private wrote(before: KubeObject, after: KubeObject): void {
    const key = `${after.metadata.namespace}/${after.metadata.name}`;
    const prior = this.writes.get(key);
    // Several writes in one reconcile: the cache still holds the version before the first.
    const replacedRv =
      prior && prior.obj.metadata.resourceVersion === before.metadata.resourceVersion
        ? prior.replacedRv
        : before.metadata.resourceVersion!;
    this.writes.set(key, { replacedRv, obj: after });
  }

  private isDrifted(cageKey: string, type: ResourceType, name: string): boolean {
    return this.drifted.get(cageKey)?.has(`${typeKeyOf(type)}|${name}`) ?? false;
  }

  private markDrifted(type: ResourceType, obj: KubeObject): boolean {
    const owner = obj.metadata.ownerReferences?.find((r) => r.kind === 'Cage');
    if (!owner) return false;
    const cageKey = `${obj.metadata.namespace}/${owner.name}`;
    let set = this.drifted.get(cageKey);
    if (!set) this.drifted.set(cageKey, (set = new Set()));
    set.add(`${typeKeyOf(type)}|${obj.metadata.name}`);
    return true;
  }

  private inf(t: ResourceType): Informer {
    const i = this.d.owned.get(typeKeyOf(t));
    if (!i) throw new Error(`no informer for ${t.kind}`);
    return i;
  }

  async reconcile(key: string): Promise<ReconcileOutcome> {
    const slash = key.indexOf('/');
    const ns = key.slice(0, slash);
    const name = key.slice(slash + 1);
    let raw = this.current(key, this.d.cages.get(ns, name));
    if (!raw) {
      this.caParsed.delete(`${key}-proxy-ca`);
      this.memo.delete(key);
      this.drifted.delete(key);
      return { result: 'success' }; // gone: the garbage collector removes what it owned
    }
    if (raw.metadata.deletionTimestamp) return this.finalize(raw);
    if (!(raw.metadata.finalizers ?? []).includes(FINALIZER)) {
      const before: KubeObject = raw;
      raw = await this.d.client.patchFinalizers(
        CAGES,
        ns,
        name,
        [...(raw.metadata.finalizers ?? []), FINALIZER],
        {
          fieldManager: FIELD_MANAGER,
          resourceVersion: raw.metadata.resourceVersion!,
        },
      );
      this.wrote(before, raw);
    }
    const fast = await this.fastPath(key, raw);
    if (fast) return fast;
    const generation = raw.metadata.generation;
    const v = validateCage({
      apiVersion: raw.apiVersion,
      kind: raw.kind,
      metadata: raw.metadata,
      spec: raw.spec,
    });
    if (!v.ok) {
      this.memo.delete(key);
      await this.invalid(raw, v.problems);
      return { result: 'invalid' };
    }
    const cage = v.cage;
    try {
      return await this.converge(key, raw, cage, generation);
    } catch (err) {
      if (err instanceof RenderError) {
        await this.invalid(raw, [{ path: err.path, message: err.message.slice(err.path.length + 2) }]);
        return { result: 'invalid' };
      }
      // A stale write is an ordinary race: retry quietly. Anything else is reported on the Cage.
      if (!isApiError(err, 409) || err instanceof NotOwnedError) await this.applyFailed(raw, err);
      throw err;
    }
  }

  private async converge(
    key: string,
    raw: KubeObject,
    cage: Cage,
    generation: number | undefined,
  ): Promise<ReconcileOutcome> {
    const ns = raw.metadata.namespace!;
    const uid = raw.metadata.uid!;
    const n = cageNames(cage);
    const now = this.now();

    const ca = await this.cageCa(raw, cage, now);
    const generated = await this.placeholders(cage);
    const placeholders = { ...generated };
    const stateObjects = [caSecret(cage, ca)];
    if (Object.keys(generated).length > 0) stateObjects.push(placeholdersSecret(cage, generated));

    // The agent is rendered with the Services' ClusterIPs, known once they exist: a first pass
    // applies everything else, the Services' answers carry the IPs, and a second pass brings the
    // agent up with them. Until both are known the agent Pod is held back (never started with a
    // resolver that goes nowhere).
    const services = this.inf(SERVICES);
    let ips = { dns: clusterIPOf(services.get(ns, n.dns)), proxy: clusterIPOf(services.get(ns, n.proxy)) };
    const applied = new Map<string, KubeObject>();
    const desiredKeys = new Set<string>();
    let desiredList: { tkey: string; type: ResourceType; name: string; hash: string }[] = [];
    let replacingPod = false;
    let applies = 0;
    for (let pass = 0; pass < 2; pass++) {
      const ctx: KubernetesContext = {
        placeholders,
        now,
        images: this.d.images,
        namespace: ns,
        uid,
        caCertPem: ca.certPem,
        dnsServiceIP: ips.dns,
        proxyServiceIP: ips.proxy,
      };
      const desired = [...(this.d.render(cage, ctx) as KubeObject[]), ...stateObjects];
      for (const obj of desired) {
        if (obj.kind === 'Deployment' && obj.metadata.name === n.proxy)
          annotateTemplate(obj, CA_ANNOTATION, ca.fingerprint);
        // The agent Pod is replaced, not patched, when anything in it changes, CA included.
        if (obj.kind === 'Pod') setAnnotation(obj, CA_ANNOTATION, ca.fingerprint);
      }
      desired.sort((a, b) => APPLY_ORDER.indexOf(a.kind) - APPLY_ORDER.indexOf(b.kind));
      const holdAgent = ips.dns === undefined || ips.proxy === undefined;
      desiredList = [];
      for (const obj of desired) {
        const type = resourceTypeFor(obj.apiVersion, obj.kind);
        if (!type || !OWNED_TYPES.includes(type))
          throw new Error(
            `the renderer produced a ${obj.apiVersion} ${obj.kind}, which the operator does not manage`,
          );
        desiredKeys.add(`${typeKeyOf(type)}|${obj.metadata.name}`);
        const hash = stampHash(obj);
        desiredList.push({ tkey: typeKeyOf(type), type, name: obj.metadata.name, hash });
        if (type === PODS && holdAgent) continue;
        const r = await this.ensure(type, obj, uid, applied, hash, key);
        if (r === 'replacing') replacingPod = true;
        if (r === 'applied') applies++;
      }
      const next = {
        dns: clusterIPOf(applied.get(`Service|${n.dns}`) ?? services.get(ns, n.dns)),
        proxy: clusterIPOf(applied.get(`Service|${n.proxy}`) ?? services.get(ns, n.proxy)),
      };
      if (deepEqual(next, ips)) break;
      ips = next;
    }

    await this.prune(ns, uid, desiredKeys);
    // Every drifted object was re-applied or pruned above.
    this.drifted.delete(key);

    const ready = !replacingPod && ips.dns !== undefined && ips.proxy !== undefined;
    if (ready && !timeDependent(cage))
      this.memo.set(key, {
        checkedAt: now.getTime(),
        uid,
        generation,
        ips: { dns: ips.dns!, proxy: ips.proxy! },
        caNotAfter: ca.notAfter.getTime(),
        caFingerprint: ca.fingerprint,
        egressMode: egressMode(cage.spec),
        objects: desiredList.map((o) => `${OWNED_TYPES.indexOf(o.type)} ${o.name} ${o.hash}`).join('\n'),
      });
    else this.memo.delete(key);
    this.d.log('debug', 'reconciled', { cage: key, applies });
    return this.finish(raw, ips, applied, replacingPod, egressMode(cage.spec), ca, generation, now);
  }

  /**
   * Nothing to render when the inputs are those of the last converged render (same Cage
   * generation, Service IPs and CA) and every object it applied is still there as applied:
   * the steady state (readiness changes, resyncs) costs cache lookups, not a render.
   */
  private async fastPath(key: string, raw: KubeObject): Promise<ReconcileOutcome | undefined> {
    const m = this.memo.get(key);
    if (!m || m.uid !== raw.metadata.uid || m.generation !== raw.metadata.generation) return undefined;
    const now = this.now();
    if (m.caNotAfter - CA_ROTATE_BEFORE_MS <= now.getTime()) return undefined;
    if (now.getTime() - m.checkedAt >= (this.d.resyncMs ?? DEFAULT_RESYNC_MS) - 1000) return undefined;
    const ns = raw.metadata.namespace!;
    const n = cageNames({ metadata: { name: raw.metadata.name } } as Cage);
    // Just applied, the watch may not have brought an object back yet: trust what was applied
    // for a short while, unless a deletion of it has been seen since.
    const fresh = now.getTime() - m.checkedAt < FRESH_MS;
    const seen = (type: ResourceType, name: string) => {
      if (this.isDrifted(key, type, name)) return false;
      const live = this.inf(type).get(ns, name);
      return live ?? (fresh ? null : false);
    };
    const ipOf = (name: string, kept: string) => {
      const svc = seen(SERVICES, name);
      return svc === false ? undefined : svc === null ? kept : clusterIPOf(svc);
    };
    const ips = { dns: ipOf(n.dns, m.ips.dns), proxy: ipOf(n.proxy, m.ips.proxy) };
    if (ips.dns !== m.ips.dns || ips.proxy !== m.ips.proxy) return undefined;
    for (const line of m.objects.split('\n')) {
      const [ti, name, hash] = line.split(' ');
      const type = OWNED_TYPES[Number(ti)];
      const live = seen(type, name);
      if (live === false) return undefined;
      if (live && (live.metadata.deletionTimestamp || live.metadata.annotations?.[HASH_ANNOTATION] !== hash))
        return undefined;
    }
    const ca = { notAfter: new Date(m.caNotAfter), fingerprint: m.caFingerprint };
    return this.finish(raw, ips, new Map(), false, m.egressMode, ca, raw.metadata.generation, now);
  }

  /** Status conditions from what the caches (and this reconcile's writes) show; the requeue time. */
  private async finish(
    raw: KubeObject,
    ips: { dns?: string; proxy?: string },
    applied: Map<string, KubeObject>,
    replacingPod: boolean,
    mode: 'allowlist' | 'blocklist',
    ca: { notAfter: Date; fingerprint: string },
    generation: number | undefined,
    now: Date,
  ): Promise<ReconcileOutcome> {
    const ns = raw.metadata.namespace!;
    const n = cageNames({ metadata: { name: raw.metadata.name } } as Cage);
    const deps = this.inf(DEPLOYMENTS);
    const proxy = deploymentAvailable(applied.get(`Deployment|${n.proxy}`) ?? deps.get(ns, n.proxy));
    const dns = deploymentAvailable(applied.get(`Deployment|${n.dns}`) ?? deps.get(ns, n.dns));
    const agent = this.inf(PODS).get(ns, n.agent);
    const updates: ConditionUpdate[] = [];
    updates.push({
      type: CONDITION.PolicyApplied,
      status: 'True',
      reason: REASON.Applied,
      message: `proxy policy, DNS allowlist and NetworkPolicies applied (${mode}). ${CNI_WARNING}`,
    });
    updates.push(
      proxy.ok && ips.proxy
        ? {
            type: CONDITION.ProxyReady,
            status: 'True',
            reason: REASON.ProxyAvailable,
            message: `proxy ${n.proxy} available at ${ips.proxy}`,
          }
        : {
            type: CONDITION.ProxyReady,
            status: 'False',
            reason: REASON.ProxyUnavailable,
            message: `proxy Deployment ${n.proxy}: ${proxy.detail}`,
          },
    );
    updates.push(
      !ips.dns
        ? {
            type: CONDITION.DNSReady,
            status: 'False',
            reason: REASON.AwaitingServiceIP,
            message: `waiting for Service ${n.dns} to get a ClusterIP`,
          }
        : dns.ok
          ? {
              type: CONDITION.DNSReady,
              status: 'True',
              reason: REASON.DnsAvailable,
              message: `dnsmasq ${n.dns} available at ${ips.dns}`,
            }
          : {
              type: CONDITION.DNSReady,
              status: 'False',
              reason: REASON.DnsUnavailable,
              message: `DNS Deployment ${n.dns}: ${dns.detail}`,
            },
    );
    const waiting = [!(proxy.ok && ips.proxy) && 'proxy', !(dns.ok && ips.dns) && 'DNS'].filter(Boolean);
    if (waiting.length > 0)
      updates.push({
        type: CONDITION.Ready,
        status: 'False',
        reason: REASON.ComponentsNotReady,
        message: `waiting for ${waiting.join(' and ')}`,
      });
    else if (!agent || agent.metadata.deletionTimestamp || replacingPod)
      updates.push({
        type: CONDITION.Ready,
        status: 'False',
        reason: REASON.AgentPending,
        message:
          replacingPod || agent?.metadata.deletionTimestamp
            ? `agent Pod ${n.agent} is being replaced`
            : `agent Pod ${n.agent} not created yet`,
      });
    else {
      const phase = (agent.status as { phase?: string } | undefined)?.phase ?? 'Pending';
      updates.push({
        type: CONDITION.Ready,
        status: 'True',
        reason: REASON.AllReady,
        message: `proxy, DNS and policy ready; agent Pod ${n.agent} is ${phase}`,
      });
    }
    await this.writeStatus(raw, updates, generation, { egressMode: mode, caFingerprint: ca.fingerprint });

    // Come back for CA rotation, drift, or a Pod that is going away.
    const untilRotation = ca.notAfter.getTime() - CA_ROTATE_BEFORE_MS - now.getTime() + 1000;
    const resync = this.d.resyncMs ?? DEFAULT_RESYNC_MS;
    if (replacingPod) return { result: 'requeue', requeueAfterMs: 1000 };
    return { result: 'success', requeueAfterMs: Math.max(1000, Math.min(resync, untilRotation)) };
  }

  /** Applies `obj` unless the live object already matches; the agent Pod is replaced instead. */
  private async ensure(
    type: ResourceType,
    obj: KubeObject,
    uid: string,
    applied: Map<string, KubeObject>,
    hash: string,
    cageKey: string,
  ): Promise<'unchanged' | 'applied' | 'replacing'> {
    const { client } = this.d;
    const ns = obj.metadata.namespace;
    const name = obj.metadata.name;
    const drifted = this.isDrifted(cageKey, type, name);
    const matches = (live: KubeObject) =>
      live.metadata.annotations?.[HASH_ANNOTATION] === hash &&
      !drifted &&
      (type === PODS || isSubset(obj, live));
    // What this reconcile applied a moment ago is newer than the cache.
    let live = applied.get(`${type.kind}|${name}`) ?? this.inf(type).get(ns, name);
    if (!live) {
      // Not cached: new, not seen by the watch yet, or someone else's object of that name.
      live = await client.get(type, ns, name);
    }
    if (live && !ownerUids(live).includes(uid))
      throw new NotOwnedError(
        `${type.kind} ${ns}/${name} exists and is not owned by this Cage: remove it or rename the Cage (the operator never takes over other objects)`,
      );
    if (live && matches(live)) return 'unchanged';
    if (type === PODS && live) {
      // Most of a Pod's spec cannot change in place: delete it; the next pass creates the new one.
      if (!live.metadata.deletionTimestamp) {
        await client.delete(PODS, ns, name, { uid: live.metadata.uid }).catch((err: unknown) => {
          if (!isApiError(err, 404) && !isApiError(err, 409)) throw err;
        });
        this.d.metrics?.deletes.inc({ kind: 'Pod' });
        this.d.log('info', 'replacing the agent Pod', { pod: `${ns}/${name}` });
      }
      return 'replacing';
    }
    const out = await client.apply(type, obj, { fieldManager: FIELD_MANAGER, force: true });
    applied.set(`${type.kind}|${name}`, out);
    this.d.metrics?.applies.inc({ kind: type.kind });
    return 'applied';
  }

  /** Owned objects no Cage wants any more: the agent Pod goes first. */
  private async prune(ns: string, uid: string, desired: Set<string>): Promise<void> {
    const doomed: [ResourceType, KubeObject][] = [];
    for (const t of OWNED_TYPES) {
      for (const o of this.inf(t).byIndex(OWNER_INDEX, uid)) {
        if (o.metadata.namespace !== ns || desired.has(`${typeKeyOf(t)}|${o.metadata.name}`)) continue;
        doomed.push([t, o]);
      }
    }
    doomed.sort(([a], [b]) => (a === PODS ? -1 : b === PODS ? 1 : 0));
    for (const [t, o] of doomed) {
      if (o.metadata.deletionTimestamp) continue;
      await this.d.client.delete(t, ns, o.metadata.name, { uid: o.metadata.uid }).catch((err: unknown) => {
        if (!isApiError(err, 404)) throw err;
      });
      this.d.metrics?.deletes.inc({ kind: t.kind });
    }
  }

  /**
   * readCaSecret, remembering the last parse per Secret (parsing a key and certificate is slow).
   * The entry holds the Secret's own base64 strings (shared with the informer's cache) and
   * decodes the PEMs only when a render needs them: a few hundred bytes per Cage.
   */
  private readCa(secret: KubeObject | undefined): ReturnType<typeof readCaSecret> {
    if (!secret) return undefined;
    const data = (secret.data ?? {}) as Record<string, string>;
    const key = `${secret.metadata.namespace}/${secret.metadata.name}`;
    const hit = this.caParsed.get(key);
    if (
      hit &&
      (hit.uid === undefined || hit.uid === secret.metadata.uid) &&
      hit.crt === data['tls.crt'] &&
      hit.key === data['tls.key']
    ) {
      hit.crt = data['tls.crt'];
      hit.key = data['tls.key'];
      hit.uid = secret.metadata.uid;
      return lazyCa(hit);
    }
    const ca = readCaSecret(secret);
    if (ca && !('problem' in ca))
      this.caParsed.set(key, {
        uid: secret.metadata.uid,
        crt: data['tls.crt'],
        key: data['tls.key'],
        notAfter: ca.notAfter.getTime(),
        fingerprint: ca.fingerprint,
      });
    return ca;
  }

  private async cageCa(raw: KubeObject, cage: Cage, now: Date): Promise<CaMaterial> {
    const ns = raw.metadata.namespace!;
    const name = cageNames(cage).caSecret;
    let decision = decideCa(this.readCa(this.inf(SECRETS).get(ns, name)), now);
    if (decision.action !== 'keep') {
      // The cache may lag behind a CA written moments ago: ask the API before minting another.
      decision = decideCa(this.readCa(await this.d.client.get(SECRETS, ns, name)), now);
    }
    if (decision.action === 'keep') return decision.ca;
    const ca = mintCageCa(cage, now);
    // The Secret about to be applied parses to this: remember it, so the next reconcile does not parse it again.
    const minted = caSecret(cage, ca).data as Record<string, string>;
    this.caParsed.set(`${ns}/${name}`, {
      crt: minted['tls.crt'],
      key: minted['tls.key'],
      notAfter: ca.notAfter.getTime(),
      fingerprint: ca.fingerprint,
    });
    const existed = decision.why !== 'no CA yet';
    this.d.metrics?.caMinted.inc({
      reason: decision.action === 'rotate' ? 'rotation' : existed ? 'replaced' : 'new',
    });
    if (existed)
      await this.event(
        raw,
        'Normal',
        decision.action === 'rotate' ? 'CaRotated' : 'CaReplaced',
        `new cage CA minted: ${decision.why}`,
      );
    return ca;
  }

  /** Placeholders generated for secrets whose spec gives none, kept in a Secret across renders. */
  /**
   * Called by the informers for every update of an owned object: a change to its content while
   * its hash annotation stayed ours is someone else's edit, to be taken back on the next reconcile.
   */
  noteUpdate(type: ResourceType, old: KubeObject, obj: KubeObject): boolean {
    // A Pod's spec is filled in by the scheduler and kubelet (nodeName, ...): never drift.
    if (type === PODS) return false;
    const hash = obj.metadata.annotations?.[HASH_ANNOTATION];
    if (!hash || hash !== old.metadata.annotations?.[HASH_ANNOTATION]) return false;
    if (sameContent(old, obj)) return false;
    return this.markDrifted(type, obj);
  }

  /** An owned object was deleted: unless its Cage is going too, the next reconcile recreates it. */
  noteDelete(type: ResourceType, obj: KubeObject): void {
    const owner = obj.metadata.ownerReferences?.find((r) => r.kind === 'Cage');
    const cage = owner && this.d.cages.get(obj.metadata.namespace, owner.name);
    if (!cage || cage.metadata.deletionTimestamp || cage.metadata.uid !== owner.uid) return;
    this.markDrifted(type, obj);
  }

  private async placeholders(cage: Cage): Promise<Record<string, string>> {
    const needing = cage.spec.secrets.filter((s) => s.placeholder === undefined).map((s) => s.name);
    if (needing.length === 0) return {};
    const ns = cage.metadata.namespace!;
    const name = placeholdersSecretName(cage);
    let kept = readPlaceholders(this.inf(SECRETS).get(ns, name));
    if (needing.some((s) => kept[s] === undefined))
      kept = readPlaceholders(await this.d.client.get(SECRETS, ns, name));
    const all = resolvePlaceholders(cage, kept);
    return Object.fromEntries(needing.map((s) => [s, all[s]]));
  }

  private async finalize(cached: KubeObject): Promise<ReconcileOutcome> {
    let raw = cached;
    this.memo.delete(`${raw.metadata.namespace}/${raw.metadata.name}`);
    const ns = raw.metadata.namespace!;
    const uid = raw.metadata.uid!;
    if (!(raw.metadata.finalizers ?? []).includes(FINALIZER)) return { result: 'success' };
    if ((raw.status as { phase?: string } | undefined)?.phase !== 'Terminating') {
      const after = await this.d.client.patchStatus(
        CAGES,
        ns,
        raw.metadata.name,
        { phase: 'Terminating' },
        { fieldManager: FIELD_MANAGER },
      );
      this.wrote(raw, after);
      raw = after;
    }
    // The agent stops first: its NetworkPolicy and proxy stay until it is gone.
    const pods = this.inf(PODS).byIndex(OWNER_INDEX, uid);
    if (pods.length > 0) {
      for (const p of pods) {
        if (p.metadata.deletionTimestamp) continue;
        await this.d.client
          .delete(PODS, ns, p.metadata.name, { uid: p.metadata.uid })
          .catch((err: unknown) => {
            if (!isApiError(err, 404)) throw err;
          });
      }
      return { result: 'requeue', requeueAfterMs: 1000 };
    }
    await this.prune(ns, uid, new Set());
    await this.d.client.patchFinalizers(
      CAGES,
      ns,
      raw.metadata.name,
      (raw.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
      { fieldManager: FIELD_MANAGER, resourceVersion: raw.metadata.resourceVersion! },
    );
    this.d.log('info', 'cage removed', { cage: `${ns}/${raw.metadata.name}` });
    return { result: 'success' };
  }

  private async invalid(raw: KubeObject, problems: FieldProblem[]): Promise<void> {
    const message = `the Cage spec is invalid; nothing running was changed. Fix: ${formatProblems(problems).replace(/\n/g, '; ')}`;
    await this.writeStatus(
      raw,
      [
        { type: CONDITION.Ready, status: 'False', reason: REASON.InvalidSpec, message },
        { type: CONDITION.PolicyApplied, status: 'False', reason: REASON.InvalidSpec, message },
      ],
      raw.metadata.generation,
      {},
    );
  }

  private async applyFailed(raw: KubeObject, err: unknown): Promise<void> {
    const message = `applying the Cage's objects failed (retrying with backoff): ${err instanceof ApiError || err instanceof Error ? err.message : String(err)}`;
    try {
      await this.writeStatus(
        raw,
        [
          { type: CONDITION.Ready, status: 'False', reason: REASON.ApplyFailed, message },
          { type: CONDITION.PolicyApplied, status: 'False', reason: REASON.ApplyFailed, message },
        ],
        raw.metadata.generation,
        {},
      );
    } catch (e) {
      this.d.log('warn', 'could not write the failure to the Cage status', { error: String(e) });
    }
  }

  private async writeStatus(
    raw: KubeObject,
    updates: ConditionUpdate[],
    generation: number | undefined,
    extra: Record<string, unknown>,
  ): Promise<void> {
    const prev = (raw.status ?? {}) as {
      phase?: string;
      conditions?: Parameters<typeof mergeConditions>[0];
      [k: string]: unknown;
    };
    const { conditions, transitions } = mergeConditions(prev.conditions, updates, generation, this.now());
    const status: Record<string, unknown> = {
      ...prev,
      ...extra,
      observedGeneration: generation,
      phase: phaseOf(conditions, prev.phase, false),
      conditions,
    };
    if (deepEqual(status, prev)) return;
    const after = await this.d.client.patchStatus(CAGES, raw.metadata.namespace, raw.metadata.name, status, {
      fieldManager: FIELD_MANAGER,
    });
    this.wrote(raw, after);
    for (const t of transitions) await this.transitionEvent(raw, t);
  }

  /** Events for flips worth telling: anything becoming True, failures, and regressions. */
  private async transitionEvent(raw: KubeObject, t: Transition): Promise<void> {
    const failure = t.reason === REASON.InvalidSpec || t.reason === REASON.ApplyFailed;
    if (t.to !== 'True' && t.from === undefined && !failure) return; // the first "waiting for ..."
    const type = t.to === 'True' ? 'Normal' : 'Warning';
    await this.event(raw, type, t.reason, `${t.type} is ${t.to}: ${t.message}`);
  }

  private async event(
    raw: KubeObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const now = this.now();
    const stamp = rfc3339(now);
    const ns = raw.metadata.namespace!;
    try {
      await this.d.client.create(
        EVENTS,
        {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: {
            name: `${raw.metadata.name}.${now.getTime().toString(16)}${Math.random().toString(16).slice(2, 8)}`,
            namespace: ns,
          },
          involvedObject: {
            apiVersion: raw.apiVersion,
            kind: raw.kind,
            name: raw.metadata.name,
            namespace: ns,
            uid: raw.metadata.uid,
            resourceVersion: raw.metadata.resourceVersion,
          },
          reason,
          message: message.slice(0, 1024),
          type,
          source: { component: 'agentcage-operator' },
          reportingComponent: 'agentcage.io/operator',
          reportingInstance: this.d.instance,
          firstTimestamp: stamp,
          lastTimestamp: stamp,
          count: 1,
        },
        { fieldManager: FIELD_MANAGER },
      );
    } catch (err) {
      // Events are best effort: never fail a reconcile over one.
      this.d.log('warn', 'could not record an Event', { reason, error: String(err) });
    }
  }
}

interface ParsedCa {
  uid?: string;
  crt: string; // base64, as in the Secret
  key: string;
  notAfter: number;
  fingerprint: string;
}

function lazyCa(p: ParsedCa): CaMaterial {
  return {
    notAfter: new Date(p.notAfter),
    fingerprint: p.fingerprint,
    get certPem() {
      return Buffer.from(p.crt, 'base64').toString('utf8');
    },
    get keyPem() {
      return Buffer.from(p.key, 'base64').toString('utf8');
    },
  };
}

interface Memo {
  /** When the full path last ran: a resync (resyncMs) takes it again, subset checks and all. */
  checkedAt: number;
  uid: string;
  generation: number | undefined;
  ips: { dns: string; proxy: string };
  caNotAfter: number;
  caFingerprint: string;
  egressMode: 'allowlist' | 'blocklist';
  /** One line per object applied: `<OWNED_TYPES index> <name> <hash>` (compact: kept per Cage). */
  objects: string;
}

/**
 * Equal in what the operator sets and nobody else should: the body (spec, data, type, ...),
 * labels and owner references. Status, server fields and other controllers' annotations
 * (a Deployment's revision) do not count.
 */
function sameContent(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => {
    const { status: _s, metadata, ...rest } = o;
    return { ...rest, labels: metadata.labels, ownerReferences: metadata.ownerReferences };
  };
  return deepEqual(strip(a), strip(b));
}

/** A render that depends on the clock (egress entries that expire) is never reused. */
function timeDependent(cage: Cage): boolean {
  return Object.keys(cage.spec.egress.expiry).length > 0;
}

/** Sets the object's hash annotation (of everything else in it) and returns the hash. */
function stampHash(obj: KubeObject): string {
  const hash = hashOf(withoutHash(obj));
  setAnnotation(obj, HASH_ANNOTATION, hash);
  return hash;
}

/** The object as hashed: its own hash annotation left out (and an emptied annotation map with it). */
function withoutHash(obj: KubeObject): KubeObject {
  const rest = { ...(obj.metadata.annotations ?? {}) };
  delete rest[HASH_ANNOTATION];
  return {
    ...obj,
    metadata: { ...obj.metadata, annotations: Object.keys(rest).length > 0 ? rest : undefined },
  };
}

function setAnnotation(obj: KubeObject, key: string, value: string): void {
  obj.metadata.annotations = { ...(obj.metadata.annotations ?? {}), [key]: value };
}

function annotateTemplate(obj: KubeObject, key: string, value: string): void {
  const tpl = ((
    obj.spec as { template?: { metadata?: { annotations?: Record<string, string> } } }
  ).template ??= {});
  tpl.metadata ??= {};
  tpl.metadata.annotations = { ...(tpl.metadata.annotations ?? {}), [key]: value };
}
