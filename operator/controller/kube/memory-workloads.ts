// Stands in, beside the in-memory API store, for what a cluster's controllers and kubelets do to
// the workloads the operator creates: a Deployment's status reports its replicas available for
// the current generation, a Pod's status says Running. Tests and the bench use it to see Cages
// become Ready; `hold` keeps chosen workloads unavailable.
import { DEPLOYMENTS, PODS } from './resources.ts';
import type { MemoryApiServer } from './memory-store.ts';
import type { KubeObject, WatchHandle } from './types.ts';

export class MemoryWorkloads {
  private watches: WatchHandle[] = [];
  /** Names (namespace/name) of Deployments to keep unavailable. */
  readonly hold = new Set<string>();

  constructor(private readonly store: MemoryApiServer) {}

  async start(): Promise<void> {
    const rv = this.store.currentResourceVersion();
    for (const d of this.store.all(DEPLOYMENTS)) void this.deployment(d);
    for (const p of this.store.all(PODS)) void this.pod(p);
    this.watches.push(
      await this.store.watch(DEPLOYMENTS, undefined, { resourceVersion: rv }, (e) => {
        if (e.type === 'ADDED' || e.type === 'MODIFIED') void this.deployment(e.object as KubeObject);
      }),
      await this.store.watch(PODS, undefined, { resourceVersion: rv }, (e) => {
        if (e.type === 'ADDED') void this.pod(e.object as KubeObject);
      }),
    );
  }

  stop(): void {
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
