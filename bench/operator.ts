// The Kubernetes operator's speed against the in-memory API store (the same process plays the API
// server, the controllers that mark Deployments available, and the operator; all on one core):
//   - renders per second of the pure renderer, and of the reconcile's whole pure part
//     (validate + render + hash every object), on a Cage with a secret and an allowlist;
//   - time for N Cages to converge (created one after another, all Ready for their generation),
//     and for a restarted operator to re-check N existing Cages (nothing to apply);
//   - the memory the operator holds per Cage: heap with the operator minus heap after it is
//     stopped and dropped, both after a full GC, divided by N (the store's own share apart).
// Goals (issue 6): render > 5,000 Cages/s, converge 1,000 in < 10 s, < 50 KiB per Cage.
// Run: node --expose-gc --max-old-space-size=8192 --import tsx bench/operator.ts [--sizes 1000,10000]
//      [--render-ms 2000] [--warmup-ms 1500] [--timeout-s 300] [--parts render,converge] (a part alone, e.g. to profile it)
import { performance } from 'node:perf_hooks';
import { validateCage } from '../operator/api/load.ts';
import { Operator } from '../operator/controller/kube/controller.ts';
import { hashOf } from '../operator/controller/kube/json.ts';
import { MemoryApiServer } from '../operator/controller/kube/memory-store.ts';
import { MemoryWorkloads } from '../operator/controller/kube/memory-workloads.ts';
import { CAGES } from '../operator/controller/kube/resources.ts';
import type { KubeObject } from '../operator/controller/kube/types.ts';
import { renderKubernetes } from '../operator/render/index.ts';
import type { Cage } from '../operator/api/cage.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const SIZES = flag('sizes', '1000,10000').split(',').map(Number);
const RENDER_MS = Number(flag('render-ms', '2000'));
const WARMUP_MS = Number(flag('warmup-ms', '1500'));
const TIMEOUT_MS = Number(flag('timeout-s', '300')) * 1000;
const PARTS = new Set(flag('parts', 'render,converge').split(','));
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.error('bench/operator: run with node --expose-gc for the memory figure');

function cageDoc(i: number): KubeObject {
  return {
    apiVersion: 'agentcage.io/v1alpha1',
    kind: 'Cage',
    metadata: { name: `cage-${i}`, namespace: `team-${i % 50}` },
    spec: {
      agent: { image: 'ghcr.io/example/agent:1.0', env: [{ name: 'MODE', value: 'batch' }] },
      egress: { allow: ['api.anthropic.com', 'github.com', 'pypi.org', 'files.pythonhosted.org'] },
      secrets: [{ name: 'ANTHROPIC_API_KEY', injectTo: ['api.anthropic.com'] }],
    },
  };
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

// ---- renders per second ----
interface Rate {
  wall: number; // per second of wall time (one thread)
  cpu: number; // per second of process CPU time (V8's GC threads included)
}

function renderRate(): { renders: Rate; reconcilePure: Rate } {
  const raw = {
    ...cageDoc(1),
    metadata: { ...cageDoc(1).metadata, uid: '6a1c2d3e-0000-4000-8000-000000000001' },
  };
  const cage = validateCage(raw);
  if (!cage.ok) throw new Error('bench cage does not validate');
  const ctx = {
    placeholders: { ANTHROPIC_API_KEY: 'agentcage-ph-0123456789abcdef0123456789abcdef' },
    caCertPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    dnsServiceIP: '10.96.0.10',
    proxyServiceIP: '10.96.0.11',
    now: new Date(),
  };
  const loop = (f: () => void) => {
    // Warm-up by time, not count: V8 takes over a second (on a loaded 2-core box) to optimise the
    // renderer's large functions, and a long-running operator renders with the optimised code.
    for (const w0 = performance.now(); performance.now() - w0 < WARMUP_MS;) f();
    let n = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    while (performance.now() - t0 < RENDER_MS && n < 1_000_000) {
      f();
      n++;
    }
    const wallMs = performance.now() - t0;
    return { wall: n / (wallMs / 1000), cpu: n / (cpuMs(process.cpuUsage(c0)) / 1000) };
  };
  const renders = loop(() => renderKubernetes(cage.cage as Cage, ctx));
  const reconcilePure = loop(() => {
    const v = validateCage(raw);
    if (!v.ok) throw new Error('invalid');
    for (const o of renderKubernetes(v.cage, ctx)) hashOf(o);
  });
  return { renders, reconcilePure };
}

// ---- converge ----
interface ConvergeResult {
  n: number;
  converged: boolean;
  createMs: number;
  convergeMs: number;
  convergeCpuMs: number;
  /** Time inside the API store's calls (the stand-in API server, its watch fan-out and serialisation). */
  storeMs: number;
  restartMs: number;
  restartCpuMs: number;
  reconciles: number;
  applies: number;
  operatorKiBPerCage?: number;
  storeKiBPerCage?: number;
}

/**
 * Adds up the time spent inside the store's calls (their bodies run synchronously), so the
 * operator's share of the CPU can be told apart from the stand-in API server's.
 */
function timeStore(store: MemoryApiServer): { ms: number } {
  const clock = { ms: 0 };
  const target = store as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const m of [
    'get',
    'list',
    'watch',
    'apply',
    'delete',
    'patchStatus',
    'patchFinalizers',
    'create',
    'update',
  ]) {
    const inner = target[m].bind(store);
    target[m] = (...a: unknown[]) => {
      const t = performance.now();
      try {
        return inner(...a);
      } finally {
        clock.ms += performance.now() - t;
      }
    };
  }
  return clock;
}

function readyCount(op: Operator): number {
  let ready = 0;
  for (const c of op.cache()?.cages.list() ?? []) {
    const s = c.status as { phase?: string; observedGeneration?: number } | undefined;
    if (s?.phase === 'Ready' && s.observedGeneration === c.metadata.generation) ready++;
  }
  return ready;
}

async function until(pred: () => boolean, deadline: number): Promise<boolean> {
  while (!pred()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

async function sum(op: Operator, metric: 'reconciles' | 'applies'): Promise<number> {
  return (await op.metrics[metric].get()).values.reduce((a, v) => a + v.value, 0);
}

async function converge(n: number): Promise<ConvergeResult> {
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const store = new MemoryApiServer({ historyLimit: 20_000 });
  const storeClock = timeStore(store);
  const workloads = new MemoryWorkloads(store);
  await workloads.start();
  let op = new Operator({ client: store, leaderElection: false, workers: 8 });
  op.start();
  await until(() => op.readyz().ok, performance.now() + 10_000);

  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const s0 = storeClock.ms;
  for (let i = 0; i < n; i++) await store.create(CAGES, cageDoc(i), { fieldManager: 'kubectl' });
  const createMs = performance.now() - t0;
  const converged = await until(() => readyCount(op) === n, t0 + TIMEOUT_MS);
  const convergeMs = performance.now() - t0;
  const convergeCpuMs = cpuMs(process.cpuUsage(c0));
  const storeMs = storeClock.ms - s0;
  const reconciles = await sum(op, 'reconciles');
  const applies = await sum(op, 'applies');

  // Memory: the operator's share is what goes away when it is stopped and dropped.
  let operatorKiBPerCage: number | undefined;
  let storeKiBPerCage: number | undefined;
  await new Promise((r) => setTimeout(r, 200));
  if (gc) {
    gc();
    const withOp = process.memoryUsage().heapUsed;
    await op.stop();
    op = undefined as unknown as Operator;
    gc();
    const without = process.memoryUsage().heapUsed;
    operatorKiBPerCage = (withOp - without) / n / 1024;
    storeKiBPerCage = (without - heap0) / n / 1024;
  } else await op.stop();

  // A restarted operator re-checks every Cage: everything exists, nothing needs applying.
  const r0 = process.cpuUsage();
  const rt0 = performance.now();
  const again = new Operator({ client: store, leaderElection: false, workers: 8 });
  again.start();
  await until(() => (again.cache()?.cages.size ?? 0) === n && !again.busy(), rt0 + TIMEOUT_MS);
  const restartMs = performance.now() - rt0;
  const restartCpuMs = cpuMs(process.cpuUsage(r0));
  const reapplied = await sum(again, 'applies');
  if (reapplied !== 0)
    console.error(`bench/operator: the restarted operator re-applied ${reapplied} objects`);
  await again.stop();
  workloads.stop();
  store.dropWatches('bench over');
  return {
    n,
    converged,
    createMs,
    convergeMs,
    convergeCpuMs,
    storeMs,
    restartMs,
    restartCpuMs,
    reconciles,
    applies,
    operatorKiBPerCage,
    storeKiBPerCage,
  };
}

if (PARTS.has('render')) {
  const rate = renderRate();
  const show = (r: Rate) => `${fmt(r.wall)} Cages/s (${fmt(r.cpu)} per CPU-second, GC threads included)`;
  console.log(`(after ${fmt(WARMUP_MS)} ms of warm-up each; --warmup-ms 0 for cold-JIT figures)`);
  console.log(`renderKubernetes: ${show(rate.renders)}; goal > 5,000`);
  console.log(`validate + render + hash (a reconcile's pure part): ${show(rate.reconcilePure)}`);
  console.log();
}
if (PARTS.has('converge'))
  console.log(
    'cages   converged  create s  converge s  cpu s  store s  reconciles  applies  restart s  restart cpu s  operator KiB/cage  store KiB/cage',
  );
for (const n of PARTS.has('converge') ? SIZES : []) {
  const r = await converge(n);
  console.log(
    [
      String(n).padEnd(7),
      String(r.converged).padEnd(10),
      fmt(r.createMs / 1000, 1).padStart(8),
      fmt(r.convergeMs / 1000, 1).padStart(11),
      fmt(r.convergeCpuMs / 1000, 1).padStart(6),
      fmt(r.storeMs / 1000, 1).padStart(8),
      String(r.reconciles).padStart(11),
      String(r.applies).padStart(8),
      fmt(r.restartMs / 1000, 1).padStart(10),
      fmt(r.restartCpuMs / 1000, 1).padStart(14),
      (r.operatorKiBPerCage === undefined ? '-' : fmt(r.operatorKiBPerCage, 1)).padStart(18),
      (r.storeKiBPerCage === undefined ? '-' : fmt(r.storeKiBPerCage, 1)).padStart(15),
    ].join(' '),
  );
}
if (PARTS.has('converge'))
  console.log(`
converge s: first create to every Cage Ready for its generation. The API store, the workload
stand-in and the operator share one process: cpu s is all of it, store s the time inside the
store's calls (a real API server runs elsewhere). Goals: converge 1,000 < 10 s; < 50 KiB per Cage.`);
