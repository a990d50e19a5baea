// Stands in, beside the in-memory API store, for what a cluster's controllers and kubelets do to
// the workloads the operator creates: a Deployment's status reports its replicas available for
// the current generation, a Pod's status says Running. Tests and the bench use it to see Cages
// become Ready; `hold` keeps chosen workloads unavailable.
import { DEPLOYMENTS, PODS } from './resources.ts';
import type { MemoryApiServer } from './memory-store.ts';
import type { KubeObject, ResourceType, WatchEvent, WatchHandle } from './types.ts';

export class MemoryWorkloads {
  private watches: WatchHandle[] = [];
  /** Names (namespace/name) of Deployments to keep unavailable. */
  readonly hold = new Set<string>();

  constructor(private readonly store: MemoryApiServer) {}

  private stopped = false;

  async start(): Promise<void> {
    this.stopped = false;
    await Promise.all([
      this.follow(DEPLOYMENTS, (e) => e.type !== 'DELETED' && this.deployment(e.object as KubeObject)),
      this.follow(PODS, (e) => e.type === 'ADDED' && this.pod(e.object as KubeObject)),
    ]);
  }

  /** Scans, then watches; a dropped watch (tests drop them) is followed again from a fresh scan. */
  private async follow(type: ResourceType, on: (e: WatchEvent) => unknown): Promise<void> {
    if (this.stopped) return;
    const rv = this.store.currentResourceVersion();
    for (const o of this.store.all(type)) on({ type: 'ADDED', object: o });
    const w = await this.store.watch(type, undefined, { resourceVersion: rv }, (e) => void on(e));
    this.watches.push(w);
    void w.done.then(() => {
      this.watches = this.watches.filter((x) => x !== w);
      if (!this.stopped) setTimeout(() => void this.follow(type, on), 5);
    });
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watches.splice(0)) w.stop();
  }

  /** Makes a held Deployment available now. */
  async release(namespace: string, name: string): Promise<void> {
    this.hold.delete(`${namespace}/${name}`);
    const d = await this.store.get(DEPLOYMENTS, namespace, name);
    if (d) await this.deployment(d);
  }

  private async deployment(d: KubeObject): Promise<void> {
    const m = d.metadata;
    if (this.hold.has(`${m.namespace}/${m.name}`)) return;
    const st = (d.status ?? {}) as { observedGeneration?: number };
    if (st.observedGeneration === m.generation) return;
    const replicas = (d.spec as { replicas?: number } | undefined)?.replicas ?? 1;
    await this.store
      .patchStatus(
        DEPLOYMENTS,
        m.namespace,
        m.name,
        {
          observedGeneration: m.generation,
          replicas,
          updatedReplicas: replicas,
          readyReplicas: replicas,
          availableReplicas: replicas,
        },
        { fieldManager: 'kube-controller-manager' },
      )
      .catch(() => {}); // deleted meanwhile
  }

  private async pod(p: KubeObject): Promise<void> {
    if ((p.status as { phase?: string } | undefined)?.phase) return;
    await this.store
      .patchStatus(
        PODS,
        p.metadata.namespace,
        p.metadata.name,
        { phase: 'Running' },
        { fieldManager: 'kubelet' },
      )
      .catch(() => {});
  }
}
