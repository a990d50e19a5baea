// Whether a Deployment the operator owns can serve, as its status reports it.
import type { KubeObject } from './types.ts';

/**
 * Available when at least one replica is. A rollout in progress (a spec the Deployment
 * controller has not caught up with, e.g. dnsmasq rolling onto a new allowlist) does not make it
 * unavailable: the default RollingUpdate strategy keeps the old replica serving until a new one
 * is available, and the status says so once it drops to zero. Reporting a rollout as
 * unavailable would flip Ready (with Warning Events) on every spec change.
 */
export function deploymentAvailable(dep: KubeObject | undefined): { ok: boolean; detail: string } {
  if (!dep) return { ok: false, detail: 'not created yet' };
  const st = (dep.status ?? {}) as { observedGeneration?: number; availableReplicas?: number };
  const want = (dep.spec as { replicas?: number } | undefined)?.replicas ?? 1;
  const have = st.availableReplicas ?? 0;
  const rolling = (st.observedGeneration ?? 0) < (dep.metadata.generation ?? 0);
  return { ok: have >= 1, detail: `${have}/${want} available${rolling ? ', rollout in progress' : ''}` };
}
