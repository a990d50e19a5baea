// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: a replica takes the
// Lease when it is free or its holder has not renewed within leaseDuration (judged by this
// replica's own clock from when it last saw the record change, so clock skew between replicas
// does not matter), renews it every retryPeriod, and steps down when it cannot renew within
// renewDeadline. Writes are guarded by resourceVersion, so two candidates never both win.
import { isApiError } from './errors.ts';
import { LEASES } from './resources.ts';
import type { ApiClient, KubeObject } from './types.ts';

export interface LeaderElectionOptions {
  client: ApiClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  now?: () => Date;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  onError?: (err: unknown) => void;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private leading = false;
  private stopped = true;
  private timer?: NodeJS.Timeout;
  private loop?: Promise<void>;
  private wake?: () => void;
  private observed?: { record: string; at: number };
  private lastRenew = 0;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly now: () => Date;

  constructor(private readonly o: LeaderElectionOptions) {
    this.leaseMs = o.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10_000;
    this.retryMs = o.retryPeriodMs ?? 2_000;
    this.now = o.now ?? (() => new Date());
    if (!(this.renewDeadlineMs < this.leaseMs && this.retryMs < this.renewDeadlineMs))
      throw new Error('leader election: need retryPeriod < renewDeadline < leaseDuration');
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Stops campaigning; a leader hands the Lease back so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (this.leading) {
      this.setLeading(false);
      await this.release().catch((err) => this.o.onError?.(err));
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.o.onError?.(err);
      }
      if (this.stopped) return;
      const t = this.now().getTime();
      if (ok) {
        this.lastRenew = t;
        if (!this.leading) this.setLeading(true);
      } else if (this.leading && t - this.lastRenew >= this.renewDeadlineMs) {
        this.setLeading(false);
      }
      await this.sleep(this.retryMs);
    }
  }

  private setLeading(v: boolean) {
    this.leading = v;
    if (v) this.o.onStartedLeading();
    else this.o.onStoppedLeading();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(this.timer);
        resolve();
      };
      this.timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  /** One round: true when this replica holds the Lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity } = this.o;
    const now = this.now();
    const lease = await client.get(LEASES, namespace, name);
    const durationSeconds = Math.max(1, Math.ceil(this.leaseMs / 1000));
    if (!lease) {
      try {
        await client.create(
          LEASES,
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: microTime(now),
              renewTime: microTime(now),
              leaseTransitions: 0,
            },
          },
          { fieldManager: 'agentcage' },
        );
        return true;
      } catch (err) {
        if (isApiError(err, 409)) return false; // another replica created it first
        throw err;
      }
    }
    const spec = (lease.spec ?? {}) as LeaseSpec;
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseTransitions]);
    if (this.observed?.record !== record) this.observed = { record, at: now.getTime() };
    const holder = spec.holderIdentity ?? '';
    const heldByOther = holder !== '' && holder !== identity;
    const theirDurationMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (heldByOther && this.observed.at + theirDurationMs > now.getTime()) return false;
    const next: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: holder === identity && spec.acquireTime ? spec.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
    };
    try {
      await client.update(LEASES, { ...lease, spec: next } as KubeObject, { fieldManager: 'agentcage' });
      return true;
    } catch (err) {
      if (isApiError(err, 409)) return false;
      throw err;
    }
  }

  private async release(): Promise<void> {
    const { client, namespace, name, identity } = this.o;
    const lease = await client.get(LEASES, namespace, name);
    const spec = (lease?.spec ?? {}) as LeaseSpec;
    if (!lease || spec.holderIdentity !== identity) return;
    await client.update(
      LEASES,
      {
        ...lease,
        spec: { ...spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.now()) },
      } as KubeObject,
      { fieldManager: 'agentcage' },
    );
  }
}
