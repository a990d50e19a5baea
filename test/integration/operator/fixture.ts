// A cluster for controller tests: the in-memory API store, the workload stand-in (Deployments
// become available, Pods Running), and operators driven through the same ApiClient interface as
// in a cluster. Every wait is a bounded poll: the test fails by its own timeout, never by a clock.
import { Operator, type OperatorOptions } from '../../../operator/controller/kube/controller.ts';
import { MemoryApiServer } from '../../../operator/controller/kube/memory-store.ts';
import { MemoryWorkloads } from '../../../operator/controller/kube/memory-workloads.ts';
import { CAGES } from '../../../operator/controller/kube/resources.ts';
import type { ApiClient, KubeObject, ResourceType } from '../../../operator/controller/kube/types.ts';

export interface CallRecord {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
}

/** Wraps a client and records every call as an RBAC request would read (verb, group, resource). */
export function recording(inner: ApiClient, log: CallRecord[]): ApiClient {
  const rec = (verb: string, t: ResourceType, name?: string, subresource?: string) =>
    log.push({ verb, group: t.group, resource: t.plural, subresource, name });
  return {
    get: (t, ns, n) => (rec('get', t, n), inner.get(t, ns, n)),
    list: (t, ns, o) => (rec('list', t), inner.list(t, ns, o)),
    watch: (t, ns, o, cb) => (rec('watch', t), inner.watch(t, ns, o, cb)),
    // Server-side apply is authorized as patch; one that creates the object, also as create
    // (kubernetes.io/docs/reference/using-api/server-side-apply/#rbac-and-permissions).
    apply: async (t, o, opts) => {
      const existed = await inner.get(t, o.metadata.namespace, o.metadata.name);
      rec('patch', t, o.metadata.name);
      if (!existed) rec('create', t, o.metadata.name);
      return inner.apply(t, o, opts);
    },
    delete: (t, ns, n, o) => (rec('delete', t, n), inner.delete(t, ns, n, o)),
    patchStatus: (t, ns, n, s, o) => (rec('patch', t, n, 'status'), inner.patchStatus(t, ns, n, s, o)),
    patchFinalizers: (t, ns, n, f, o) => (rec('patch', t, n), inner.patchFinalizers(t, ns, n, f, o)),
    create: (t, o, opts) => (rec('create', t, o.metadata.name), inner.create(t, o, opts)),
    update: (t, o, opts) => (rec('update', t, o.metadata.name), inner.update(t, o, opts)),
  };
}

export interface TestCluster {
  store: MemoryApiServer;
  workloads: MemoryWorkloads;
  calls: CallRecord[];
  operators: Operator[];
  addOperator(o?: Partial<OperatorOptions>): Operator;
  close(): Promise<void>;
}

export async function startCluster(): Promise<TestCluster> {
  const store = new MemoryApiServer();
  const workloads = new MemoryWorkloads(store);
  await workloads.start();
  const calls: CallRecord[] = [];
  const operators: Operator[] = [];
  return {
    store,
    workloads,
    calls,
    operators,
    addOperator(o = {}) {
      const op = new Operator({
        client: recording(store, calls),
        leaderElection: false,
        leaseNamespace: 'agentcage-system',
        workers: 4,
        retryBackoff: { baseMs: 10, maxMs: 500 },
        watchBackoff: { baseMs: 10, maxMs: 200 },
        ...o,
      });
      operators.push(op);
      op.start();
      return op;
    },
    async close() {
      for (const op of operators) await op.stop();
      workloads.stop();
      store.dropWatches('test over');
    },
  };
}

export function cage(name: string, spec: Record<string, unknown> = {}, namespace = 'team-a'): KubeObject {
  return {
    apiVersion: 'agentcage.io/v1alpha1',
    kind: 'Cage',
    metadata: { name, namespace },
    spec: { agent: { image: 'ghcr.io/example/agent:1.0' }, egress: { allow: ['api.example.com'] }, ...spec },
  };
}

/** Polls `check` until it returns a value (not undefined/false); bounded by count, so by the test timeout too. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
): Promise<T> {
  let last: unknown;
  for (let i = 0; i < 100_000; i++) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export interface CageStatusView {
  phase?: string;
  observedGeneration?: number;
  caFingerprint?: string;
  conditions?: {
    type: string;
    status: string;
    reason: string;
    message: string;
    lastTransitionTime: string;
    observedGeneration?: number;
  }[];
}

export async function statusOf(
  store: MemoryApiServer,
  name: string,
  namespace = 'team-a',
): Promise<CageStatusView> {
  const c = await store.get(CAGES, namespace, name);
  return (c?.status ?? {}) as CageStatusView;
}

export function condition(s: CageStatusView, type: string) {
  return s.conditions?.find((c) => c.type === type);
}

/** Ready for the Cage's current generation. */
export async function readyAt(
  store: MemoryApiServer,
  name: string,
  namespace = 'team-a',
): Promise<CageStatusView | undefined> {
  const c = await store.get(CAGES, namespace, name);
  const s = (c?.status ?? {}) as CageStatusView;
  const ready = condition(s, 'Ready');
  return ready?.status === 'True' && s.observedGeneration === c?.metadata.generation ? s : undefined;
}
