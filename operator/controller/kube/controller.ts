// The operator: leader election, informers on Cages and on the kinds they own, the work queue,
// and the reconciler. Only the leader watches and reconciles; a standby replica only campaigns.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { LABEL } from '../../render/names.ts';
import { renderKubernetes } from '../../render/kubernetes.ts';
import type { RenderImages } from '../../render/context.ts';
import { dropManagedFields, Informer } from './informer.ts';
import { deepEqual } from './json.ts';
import { LeaderElector } from './leader.ts';
import { silentLogger, type Logger } from './log.ts';
import { OperatorMetrics } from './metrics.ts';
import {
  CageReconciler,
  HASH_ANNOTATION,
  OWNER_INDEX,
  ownerUids,
  typeKeyOf,
  type RenderFn,
} from './reconciler.ts';
import { CAGES, OWNED_TYPES } from './resources.ts';
import type { ApiClient, KubeObject } from './types.ts';
import { runWorkers, WorkQueue } from './work-queue.ts';
import type { BackoffPolicy } from './backoff.ts';

export const VERSION = '0.1.0';
/** Owned objects carry this label (set by the renderer), so the informers never cache anyone else's. */
export const OWNED_SELECTOR = `${LABEL.managedBy}=agentcage-operator`;

export interface OperatorOptions {
  client: ApiClient;
  /** Watch Cages in this namespace only; all namespaces when absent. */
  namespace?: string;
  /** Where the leader Lease lives (the operator's own namespace). */
  leaseNamespace?: string;
  leaseName?: string;
  identity?: string;
  /** false: lead at once (a single replica, tests, the bench). */
  leaderElection?: boolean;
  lease?: { durationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  workers?: number;
  render?: RenderFn;
  images?: Partial<RenderImages>;
  metrics?: OperatorMetrics;
  log?: Logger;
  now?: () => Date;
  resyncMs?: number;
  retryBackoff?: BackoffPolicy;
  watchBackoff?: BackoffPolicy;
}

export class Operator {
  readonly metrics: OperatorMetrics;
  readonly identity: string;
  private readonly log: Logger;
  private elector?: LeaderElector;
  private session?: {
    queue: WorkQueue;
    cages: Informer;
    owned: Map<string, Informer>;
    workers: Promise<void>;
    synced: boolean;
  };
  private leading = false;
  private transition: Promise<void> = Promise.resolve();
  private abortStart?: () => void;
  private started = false;

  constructor(private readonly o: OperatorOptions) {
    this.identity = o.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`;
    this.log = o.log ?? silentLogger;
    this.metrics = o.metrics ?? new OperatorMetrics({ version: VERSION, defaultMetrics: false });
    this.metrics.setPhaseSource(() => this.phaseCounts());
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.log('info', 'starting', {
      identity: this.identity,
      namespace: this.o.namespace ?? '(all)',
      note: 'cages are only as contained as NetworkPolicy enforcement: the cluster network plugin must enforce it (Calico, Cilium, ...)',
    });
    if (this.o.leaderElection === false) {
      this.lead(true);
      return;
    }
    this.elector = new LeaderElector({
      client: this.o.client,
      namespace: this.o.leaseNamespace ?? this.o.namespace ?? 'default',
      name: this.o.leaseName ?? 'agentcage-operator',
      identity: this.identity,
      leaseDurationMs: this.o.lease?.durationMs,
      renewDeadlineMs: this.o.lease?.renewDeadlineMs,
      retryPeriodMs: this.o.lease?.retryPeriodMs,
      now: this.o.now,
      onStartedLeading: () => this.lead(true),
      onStoppedLeading: () => this.lead(false),
      onError: (err) => this.log('warn', 'leader election round failed', { error: String(err) }),
    });
    this.elector.start();
  }

  async stop(): Promise<void> {
    if (this.elector) await this.elector.stop();
    else this.lead(false);
    await this.transition;
    this.started = false;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Healthy unless stopped. */
  healthz(): { ok: boolean; detail: string } {
    return { ok: this.started, detail: this.started ? 'running' : 'stopped' };
  }

  /** Ready as a standby, or as the leader once its caches have synced. */
  readyz(): { ok: boolean; detail: string } {
    if (!this.started) return { ok: false, detail: 'stopped' };
    if (!this.leading) return { ok: true, detail: 'standby (not the leader)' };
    const synced = this.session?.synced ?? false;
    return { ok: synced, detail: synced ? 'leader, caches synced' : 'leader, caches syncing' };
  }

  /** Keys waiting or being reconciled right now (delayed retries and resyncs not counted). */
  busy(): boolean {
    const s = this.session;
    return !!s && (!s.synced || s.queue.len() > 0 || !s.queue.idleNow());
  }

  cache(): { cages: Informer; owned: Map<string, Informer> } | undefined {
    return this.session && { cages: this.session.cages, owned: this.session.owned };
  }

  private phaseCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.session?.cages.list() ?? []) {
      const p = (c.status as { phase?: string } | undefined)?.phase ?? 'Pending';
      out[p] = (out[p] ?? 0) + 1;
    }
    return out;
  }

  private lead(v: boolean) {
    if (v === this.leading) return;
    this.leading = v;
    this.metrics.leader.set(v ? 1 : 0);
    if (!v) this.abortStart?.(); // a session still waiting for its caches stops waiting
    this.transition = this.transition
      .then(() => (v ? this.startSession() : this.stopSession()))
      .catch((err: unknown) => this.log('error', 'leadership change failed', { error: String(err) }));
  }

  private async startSession(): Promise<void> {
    if (!this.leading || this.session) return;
    this.log('info', 'leading: starting informers and workers', { identity: this.identity });
    const { client } = this.o;
    const queue = new WorkQueue(this.o.retryBackoff, (d) => this.metrics.queueDepth.set(d));
    const onWatchFailure = (resource: string) => (err: unknown, ms: number) => {
      this.metrics.watchFailures.inc({ resource });
      this.log('warn', 'watch failed, restarting', { resource, error: String(err), retryInMs: ms });
    };
    const cages = new Informer(client, {
      type: CAGES,
      namespace: this.o.namespace,
      transform: dropManagedFields,
      backoff: this.o.watchBackoff,
      onWatchFailure: onWatchFailure(CAGES.plural),
    });
    const owned = new Map<string, Informer>();
    const reconciler = new CageReconciler({
      client,
      cages,
      owned,
      render: this.o.render ?? (renderKubernetes as unknown as RenderFn),
      images: this.o.images,
      now: this.o.now,
      log: this.log,
      metrics: this.metrics,
      resyncMs: this.o.resyncMs,
      instance: this.identity,
    });
    const keyOf = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;
    cages.addHandlers({
      onAdd: (o) => queue.add(keyOf(o)),
      onUpdate: (old, o) => {
        reconciler.cageObserved(o);
        // Status-only changes (our own writes) need no reconcile.
        const m0 = old.metadata;
        const m1 = o.metadata;
        if (
          m0.generation !== m1.generation ||
          !!m0.deletionTimestamp !== !!m1.deletionTimestamp ||
          !deepEqual(m0.finalizers, m1.finalizers) ||
          !deepEqual(m0.labels, m1.labels) ||
          !deepEqual(m0.annotations, m1.annotations)
        )
          queue.add(keyOf(o));
      },
    });
    for (const t of OWNED_TYPES) {
      const inf = new Informer(client, {
        type: t,
        namespace: this.o.namespace,
        labelSelector: OWNED_SELECTOR,
        transform: dropManagedFields,
        backoff: this.o.watchBackoff,
        onWatchFailure: onWatchFailure(t.plural),
      });
      inf.addIndex(OWNER_INDEX, ownerUids);
      const enqueueOwner = (o: KubeObject) => {
        for (const r of o.metadata.ownerReferences ?? [])
          if (r.kind === 'Cage' && r.apiVersion.startsWith('agentcage.io/'))
            queue.add(`${o.metadata.namespace}/${r.name}`);
      };
      inf.addHandlers({
        // An object carrying our hash was created by a reconcile, which already accounted for it.
        onAdd: (o) => {
          if (!o.metadata.annotations?.[HASH_ANNOTATION]) enqueueOwner(o);
        },
        onUpdate: (old, o) => {
          const foreign = reconciler.noteUpdate(t, old, o);
          if (foreign || ownedChangeMatters(old, o)) enqueueOwner(o);
        },
        onDelete: (o) => {
          reconciler.noteDelete(t, o);
          enqueueOwner(o);
        },
      });
      owned.set(typeKeyOf(t), inf);
    }
    const session = { queue, cages, owned, workers: Promise.resolve(), synced: false };
    this.session = session;
    for (const i of owned.values()) i.start();
    cages.start();
    // Owned caches first: a reconcile must see what already exists before it decides to create.
    const aborted = new Promise<'aborted'>((r) => (this.abortStart = () => r('aborted')));
    const synced = (async () => {
      await Promise.all([...owned.values()].map((i) => i.synced));
      await cages.synced;
    })();
    const r = await Promise.race([synced, aborted]);
    this.abortStart = undefined;
    if (r === 'aborted') return; // stopSession, queued behind this, stops the informers
    session.synced = true;
    this.log('info', 'caches synced', { cages: cages.size });
    session.workers = runWorkers(
      queue,
      this.o.workers ?? 4,
      async (key) => {
        const end = this.metrics.reconcileDuration.startTimer();
        try {
          const r = await reconciler.reconcile(key);
          this.metrics.reconciles.inc({ result: r.result });
          return r;
        } finally {
          end();
        }
      },
      (key, err, retryInMs) => {
        this.metrics.reconciles.inc({ result: 'error' });
        this.log('warn', 'reconcile failed, retrying', { cage: key, error: String(err), retryInMs });
      },
    );
  }

  private async stopSession(): Promise<void> {
    const s = this.session;
    if (!s) return;
    this.session = undefined;
    s.queue.shutdown();
    await s.workers;
    await Promise.all([s.cages.stop(), ...[...s.owned.values()].map((i) => i.stop())]);
    this.log('info', 'stopped leading: informers and workers stopped', { identity: this.identity });
  }
}

/**
 * An owned object's change that needs its Cage reconciled: its status moved (readiness), it is
 * being deleted, or someone else edited it (generation or labels moved while our hash stayed).
 * Our own re-apply changes the hash annotation and needs nothing more.
 */
export function ownedChangeMatters(old: KubeObject, o: KubeObject): boolean {
  if (!deepEqual(old.status, o.status)) return true;
  if (!!old.metadata.deletionTimestamp !== !!o.metadata.deletionTimestamp) return true;
  const ours = old.metadata.annotations?.[HASH_ANNOTATION] !== o.metadata.annotations?.[HASH_ANNOTATION];
  if (ours) return false;
  return (
    old.metadata.generation !== o.metadata.generation ||
    !deepEqual(old.metadata.labels, o.metadata.labels) ||
    !deepEqual(old.metadata.annotations, o.metadata.annotations) ||
    !deepEqual(old.metadata.ownerReferences, o.metadata.ownerReferences)
  );
}
