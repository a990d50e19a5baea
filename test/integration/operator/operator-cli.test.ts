// `agentcage operator` as a real process: client-node over verified TLS to a loopback API server
// backed by the in-memory store; its /healthz, /readyz and /metrics (checked by promtool), its
// namespace restriction, and a clean SIGTERM that hands the leader Lease back.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { MemoryApiServer } from '../../../operator/controller/kube/memory-store.ts';
import { MemoryWorkloads } from '../../../operator/controller/kube/memory-workloads.ts';
import { CAGES, LEASES } from '../../../operator/controller/kube/resources.ts';
import { cage, readyAt, waitFor } from './fixture.ts';
import { startLoopbackApiServer, type LoopbackApiServer } from './loopback-apiserver.ts';
import { memoryHandler } from './memory-http.ts';
import { requireTool, run } from './tools.ts';

describe('agentcage operator (a process against a loopback API server)', function () {
  this.timeout(60_000);
  let srv: LoopbackApiServer;
  let store: MemoryApiServer;
  let workloads: MemoryWorkloads;
  let proc: ChildProcess | undefined;
  let logs: Record<string, unknown>[];
  let url: string;

  before(async () => {
    store = new MemoryApiServer();
    workloads = new MemoryWorkloads(store);
    await workloads.start();
    srv = await startLoopbackApiServer(memoryHandler(store));
    logs = [];
    proc = spawn(
      process.execPath,
      [
        'bin/agentcage.js',
        'operator',
        '--kubeconfig',
        srv.kubeconfigPath,
        '--namespace',
        'team-a',
        '--lease-namespace',
        'agentcage-system',
        '--metrics-addr',
        '127.0.0.1:0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAME: 'operator-0' } },
    );
    let buf = '';
    proc.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ raw: line });
        }
      }
    });
    url = await waitFor(
      'the operator serving',
      () => logs.find((l) => l.msg === 'serving /healthz /readyz /metrics')?.url as string,
    );
  });

  after(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    }
    workloads.stop();
    store.dropWatches();
    await srv.close();
  });

  it('reconciles a Cage in its namespace to Ready and serves health and metrics', async () => {
    await store.create(CAGES, cage('cli', {}, 'team-a'), { fieldManager: 'kubectl' });
    await waitFor('Ready', () => readyAt(store, 'cli', 'team-a'));
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const ready = await waitFor('readyz 200', async () => {
      const r = await fetch(`${url}/readyz`);
      return r.status === 200 ? r.text() : undefined;
    });
    assert.match(ready, /leader, caches synced/);
    assert.equal((await fetch(`${url}/nope`)).status, 404);
    assert.equal((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /^agentcage_operator_reconciles_total\{result="success"\} [1-9]/m);
    assert.match(metrics, /^agentcage_operator_cages\{phase="Ready"\} 1$/m);
    assert.match(metrics, /^agentcage_operator_leader 1$/m);
    assert.match(metrics, /^agentcage_operator_build_info\{version="[^"]+",nodejs="v20/m);
    assert.match(metrics, /^agentcage_operator_reconcile_duration_seconds_bucket\{le="0.1"\}/m);
    assert.match(metrics, /^agentcage_operator_queue_depth 0$/m);
  });

  it('watches only its namespace: every Cage request it made was namespaced', () => {
    const cageCalls = srv.requests.filter((r) => r.path.includes('/cages'));
    assert.ok(cageCalls.length > 0);
    for (const r of cageCalls) assert.match(r.path, /\/namespaces\/team-a\/cages/, `${r.method} ${r.path}`);
    assert.ok(srv.requests.every((r) => r.headers.authorization === `Bearer ${srv.token}`));
  });

  it('its scrape passes promtool check metrics', async function () {
    const promtool = requireTool(this, 'promtool', 'apt-get install -y --no-install-recommends prometheus');
    const text = await (await fetch(`${url}/metrics`)).text();
    const r = run(promtool, ['check', 'metrics'], text);
    assert.equal(r.code, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
    assert.equal((r.stdout + r.stderr).trim(), '', 'no lint findings');
  });

  it('stops on SIGTERM with exit code 0 and hands the leader Lease back', async () => {
    const lease = await store.get(LEASES, 'agentcage-system', 'agentcage-operator');
    assert.equal((lease!.spec as { holderIdentity: string }).holderIdentity, 'operator-0');
    proc!.kill('SIGTERM');
    const [code] = (await once(proc!, 'exit')) as [number | null];
    assert.equal(code, 0);
    const after = await store.get(LEASES, 'agentcage-system', 'agentcage-operator');
    assert.equal((after!.spec as { holderIdentity: string }).holderIdentity, '');
    assert.ok(
      !logs.some((l) => l.level === 'error'),
      JSON.stringify(logs.filter((l) => l.level === 'error')),
    );
  });
});
