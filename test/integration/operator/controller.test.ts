// The Kubernetes controller against the in-memory API store: the scenarios of issue 6.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { CONDITION, REASON } from '../../../operator/controller/kube/conditions.ts';
import { ApiError } from '../../../operator/controller/kube/errors.ts';
import { CA_ANNOTATION, FINALIZER } from '../../../operator/controller/kube/reconciler.ts';
import {
  CAGES,
  CONFIGMAPS,
  DEPLOYMENTS,
  EVENTS,
  NETWORKPOLICIES,
  OWNED_TYPES,
  PODS,
  SECRETS,
  SERVICES,
} from '../../../operator/controller/kube/resources.ts';
import type { KubeObject } from '../../../operator/controller/kube/types.ts';
import { AWAITING_IP, CA_TRUST_VARS } from '../../../operator/render/index.ts';
import { cage, condition, readyAt, startCluster, statusOf, waitFor, type TestCluster } from './fixture.ts';

const NS = 'team-a';
const rvs = (c: TestCluster, names: [typeof CONFIGMAPS, string][]) =>
  Promise.all(names.map(async ([t, n]) => (await c.store.get(t, NS, n))?.metadata.resourceVersion));
const owned = (c: TestCluster, uid: string) =>
  OWNED_TYPES.flatMap((t) => c.store.all(t)).filter((o) =>
    o.metadata.ownerReferences?.some((r) => r.uid === uid),
  );
const events = (c: TestCluster, name: string) =>
  c.store.all(EVENTS).filter((e) => (e.involvedObject as { name: string }).name === name);

describe('operator/kube controller (in-memory API store)', function () {
  this.timeout(60_000);
  let c: TestCluster;
  beforeEach(async () => {
    c = await startCluster();
  });
  afterEach(async () => {
    await c.close();
  });

  it('create: a Cage becomes Ready with its objects owned, the NetworkPolicies first, and the agent on the observed DNS IP', async () => {
    c.addOperator();
    const created = await c.store.create(
      CAGES,
      cage('demo', { secrets: [{ name: 'API_KEY', injectTo: ['api.example.com'] }] }),
      { fieldManager: 'kubectl' },
    );
    const status = await waitFor('demo Ready', () => readyAt(c.store, 'demo'));
    assert.equal(status.phase, 'Ready');
    assert.equal(status.observedGeneration, 1);
    for (const t of ['Ready', 'ProxyReady', 'DNSReady', 'PolicyApplied']) {
      const cond = condition(status, t)!;
      assert.equal(cond.status, 'True', `${t}: ${cond.message}`);
      assert.equal(cond.observedGeneration, 1);
      assert.match(cond.reason, /^[A-Z][A-Za-z]+$/);
    }
    assert.match(
      condition(status, 'PolicyApplied')!.message,
      /network plugin enforces it/,
      'says NetworkPolicy needs a CNI',
    );
    const live = (await c.store.get(CAGES, NS, 'demo'))!;
    assert.deepEqual(live.metadata.finalizers, [FINALIZER]);

    const objs = owned(c, created.metadata.uid!);
    assert.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
      'ConfigMap/demo-ca',
      'ConfigMap/demo-dnsmasq',
      'ConfigMap/demo-proxy-policy',
      'Deployment/demo-dns',
      'Deployment/demo-proxy',
      'NetworkPolicy/demo-agent',
      'NetworkPolicy/demo-dns',
      'NetworkPolicy/demo-proxy',
      'Pod/demo-agent',
      'Secret/demo-placeholders',
      'Secret/demo-proxy-ca',
      'Service/demo-dns',
      'Service/demo-proxy',
    ]);
    for (const o of objs) {
      assert.equal(
        o.metadata.managedFields?.find((m) => m.operation === 'Apply')?.manager,
        'agentcage',
        o.metadata.name,
      );
      assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'agentcage-operator');
    }
    // The agent never exists without the policy that confines it.
    const pod = objs.find((o) => o.kind === 'Pod')!;
    for (const np of objs.filter((o) => o.kind === 'NetworkPolicy'))
      assert.ok(Number(np.metadata.resourceVersion) < Number(pod.metadata.resourceVersion));
    // The agent resolves through the cage's dnsmasq at the Service IP the API server allocated.
    const dnsIP = ((await c.store.get(SERVICES, NS, 'demo-dns'))!.spec as { clusterIP: string }).clusterIP;
    const podSpec = pod.spec as {
      dnsConfig: { nameservers: string[] };
      containers: { env: { name: string; value?: string }[] }[];
      volumes: { name: string; secret?: unknown }[];
    };
    assert.deepEqual(podSpec.dnsConfig.nameservers, [dnsIP]);
    assert.notEqual(dnsIP, AWAITING_IP);
    const env = new Map(podSpec.containers[0].env.map((e) => [e.name, e.value]));
    for (const v of CA_TRUST_VARS) assert.ok(env.has(v), `agent env has ${v}`);
    assert.match(env.get('API_KEY') ?? '', /^agentcage-ph-[0-9a-f]{32}$/, 'the agent holds a placeholder');
    assert.ok(!podSpec.volumes.some((v) => v.secret), 'no Secret is mounted into the agent');

    // The CA: key only in the proxy's TLS Secret, certificate in the agent's ConfigMap.
    const caSecret = (await c.store.get(SECRETS, NS, 'demo-proxy-ca'))!;
    assert.equal(caSecret.type, 'kubernetes.io/tls');
    const crt = Buffer.from((caSecret.data as Record<string, string>)['tls.crt'], 'base64').toString();
    const caCm = (await c.store.get(CONFIGMAPS, NS, 'demo-ca'))!;
    assert.equal((caCm.data as Record<string, string>)['ca.crt'], crt);
    assert.ok(!JSON.stringify(caCm).includes('PRIVATE KEY'));
    assert.ok(new X509Certificate(crt).ca);
    assert.equal(status.caFingerprint, new X509Certificate(crt).fingerprint256);
    const proxyDep = (await c.store.get(DEPLOYMENTS, NS, 'demo-proxy'))!;
    assert.ok(
      JSON.stringify(proxyDep.spec).includes('"secretName":"demo-proxy-ca"'),
      'the proxy mounts the CA Secret',
    );
    assert.deepEqual(
      events(c, 'demo')
        .map((e) => `${e.type}/${e.reason}`)
        .sort(),
      ['Normal/AllComponentsReady', 'Normal/Applied', 'Normal/DnsAvailable', 'Normal/ProxyAvailable'],
    );
  });

  it('update: only the objects the change touches are re-applied; unchanged conditions keep their transition time', async () => {
    // The operator's clock moves on after the first Ready, so a flip of Ready and back shows in
    // its transition time whatever second the wall clock is in.
    let now = new Date();
    const op = c.addOperator({ now: () => now });
    await c.store.create(CAGES, cage('upd'), { fieldManager: 'kubectl' });
    // Settled: Ready, and the agent Pod Running (the kubelet stand-in writes its status).
    const before = await waitFor('Ready and the agent Running', async () => {
      const pod = await c.store.get(PODS, NS, 'upd-agent');
      return (pod?.status as { phase?: string } | undefined)?.phase === 'Running' && readyAt(c.store, 'upd');
    });
    now = new Date(now.getTime() + 5_000);
    const untouched: [typeof CONFIGMAPS, string][] = [
      [NETWORKPOLICIES, 'upd-agent'],
      [NETWORKPOLICIES, 'upd-proxy'],
      [SERVICES, 'upd-dns'],
      [SERVICES, 'upd-proxy'],
      [SECRETS, 'upd-proxy-ca'],
      [CONFIGMAPS, 'upd-ca'],
      [DEPLOYMENTS, 'upd-proxy'],
      [PODS, 'upd-agent'],
    ];
    const rv0 = await rvs(c, untouched);
    const policy0 = (await c.store.get(CONFIGMAPS, NS, 'upd-proxy-policy'))!;
    const applies0 = (await op.metrics.applies.get()).values.reduce((a, v) => a + v.value, 0);

    const cur = (await c.store.get(CAGES, NS, 'upd'))!;
    await c.store.update(
      CAGES,
      { ...cur, spec: { ...(cur.spec as object), egress: { allow: ['api.example.com', 'pypi.org'] } } },
      { fieldManager: 'kubectl' },
    );
    const after = await waitFor('Ready at generation 2', () => readyAt(c.store, 'upd'));
    assert.equal(after.observedGeneration, 2);
    const policy1 = (await c.store.get(CONFIGMAPS, NS, 'upd-proxy-policy'))!;
    assert.notEqual(policy1.metadata.resourceVersion, policy0.metadata.resourceVersion);
    assert.match((policy1.data as Record<string, string>)['policy.json'], /pypi\.org/);
    assert.deepEqual(await rvs(c, untouched), rv0, 'objects the change does not touch are not written');
    const applies1 = (await op.metrics.applies.get()).values.reduce((a, v) => a + v.value, 0);
    // policy ConfigMap, dnsmasq ConfigMap, and the dns Deployment whose pods roll on a new config.
    assert.equal(applies1 - applies0, 3);
    assert.equal(
      condition(after, 'Ready')!.lastTransitionTime,
      condition(before, 'Ready')!.lastTransitionTime,
      'Ready stayed True: its transition time stays',
    );
    // dnsmasq rolling onto the new allowlist keeps its old replica serving: no DNS outage reported.
    assert.deepEqual(
      events(c, 'upd').filter((e) => e.type === 'Warning'),
      [],
      'no Warning Events for an egress change',
    );
  });

  it('delete: the finalizer removes the agent first, then the rest, then lets the Cage go', async () => {
    c.addOperator();
    const created = await c.store.create(CAGES, cage('gone'), { fieldManager: 'kubectl' });
    await waitFor('Ready', () => readyAt(c.store, 'gone'));
    c.calls.length = 0;
    await c.store.delete(CAGES, NS, 'gone');
    await waitFor('cage gone', async () => (await c.store.get(CAGES, NS, 'gone')) === undefined);
    assert.deepEqual(owned(c, created.metadata.uid!), []);
    const deletes = c.calls.filter((x) => x.verb === 'delete').map((x) => x.resource);
    assert.equal(deletes[0], 'pods', `the agent Pod goes first (deletes: ${deletes.join(', ')})`);
    assert.ok(deletes.includes('networkpolicies'));
    assert.ok(
      deletes.lastIndexOf('pods') < deletes.indexOf('networkpolicies'),
      'NetworkPolicies outlive the agent',
    );
    const lastPatch = c.calls
      .filter((x) => x.verb === 'patch' && x.resource === 'cages' && !x.subresource)
      .pop();
    assert.ok(lastPatch, 'the finalizer was removed by a patch');
  });

  it('invalid spec: Ready=False InvalidSpec naming the field, and nothing running is torn down', async () => {
    c.addOperator();
    await c.store.create(
      CAGES,
      cage('bad', { secrets: [{ name: 'TOKEN', injectTo: ['api.example.com'] }] }),
      {
        fieldManager: 'kubectl',
      },
    );
    await waitFor('Ready', () => readyAt(c.store, 'bad'));
    const all = OWNED_TYPES.flatMap((t) => c.store.all(t)).map(
      (o) => `${o.kind}/${o.metadata.name}@${o.metadata.resourceVersion}`,
    );
    const cur = (await c.store.get(CAGES, NS, 'bad'))!;
    // Two secrets with one name: the CRD schema cannot see it, the zod schema refuses it.
    await c.store.update(
      CAGES,
      {
        ...cur,
        spec: {
          ...(cur.spec as object),
          secrets: [
            { name: 'TOKEN', injectTo: ['api.example.com'] },
            { name: 'TOKEN', injectTo: ['api.example.com'] },
          ],
        },
      },
      { fieldManager: 'kubectl' },
    );
    const st = await waitFor('InvalidSpec', async () => {
      const s = await statusOf(c.store, 'bad');
      return s.observedGeneration === 2 && condition(s, 'Ready')?.reason === REASON.InvalidSpec
        ? s
        : undefined;
    });
    const ready = condition(st, CONDITION.Ready)!;
    assert.equal(ready.status, 'False');
    assert.match(ready.message, /spec\.secrets\[1\]\.name/);
    assert.equal(st.phase, 'Failed');
    assert.deepEqual(
      OWNED_TYPES.flatMap((t) => c.store.all(t)).map(
        (o) => `${o.kind}/${o.metadata.name}@${o.metadata.resourceVersion}`,
      ),
      all,
      'every object stays exactly as it was',
    );
    assert.ok(events(c, 'bad').some((e) => e.type === 'Warning' && e.reason === 'InvalidSpec'));

    // The fix brings it back.
    const bad = (await c.store.get(CAGES, NS, 'bad'))!;
    await c.store.update(
      CAGES,
      {
        ...bad,
        spec: { ...(bad.spec as object), secrets: [{ name: 'TOKEN', injectTo: ['api.example.com'] }] },
      },
      { fieldManager: 'kubectl' },
    );
    const fixed = await waitFor('Ready again', () => readyAt(c.store, 'bad'));
    assert.equal(fixed.observedGeneration, 3);
  });

  it('a dropped watch resumes from its resourceVersion; one too old for the server relists', async () => {
    const op = c.addOperator();
    await c.store.create(CAGES, cage('w1'), { fieldManager: 'kubectl' });
    await waitFor('w1 Ready', () => readyAt(c.store, 'w1'));
    const cages = op.cache()!.cages;
    const lists0 = cages.stats.lists;
    assert.ok(c.store.dropWatches() > 0);
    await c.store.create(CAGES, cage('w2'), { fieldManager: 'kubectl' });
    await waitFor('w2 Ready', () => readyAt(c.store, 'w2'));
    assert.ok(cages.stats.failures >= 1, 'the drop was seen');
    assert.equal(cages.stats.lists, lists0, 'resumed without listing again');

    // History gone: the resume gets 410 and the informer lists afresh.
    c.store.compact();
    c.store.dropWatches();
    await c.store.create(CAGES, cage('w3'), { fieldManager: 'kubectl' });
    await waitFor('w3 Ready', () => readyAt(c.store, 'w3'));
    assert.ok(cages.stats.relists >= 1);
    assert.equal(cages.size, 3);
    const failures = (await op.metrics.watchFailures.get()).values.reduce((a, v) => a + v.value, 0);
    assert.ok(failures >= 1);
  });

  it('conflicts: another manager edit is taken back by the forced apply; a stale finalizer write is retried', async () => {
    // A user edits the Cage between the operator's read and its finalizer write: 409, then a retry.
    let interfered = false;
    c.store.beforeCall = (verb, t) => {
      if (verb === 'patchFinalizers' && t === CAGES && !interfered) {
        interfered = true;
        void c.store
          .get(CAGES, NS, 'cf')
          .then((cur) =>
            c.store.update(
              CAGES,
              { ...cur!, metadata: { ...cur!.metadata, labels: { team: 'a' } } },
              { fieldManager: 'kubectl' },
            ),
          );
        throw new ApiError({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          code: 409,
          reason: 'Conflict',
          message: 'Operation cannot be fulfilled on cages.agentcage.io "cf": the object has been modified',
        });
      }
    };
    const op = c.addOperator();
    await c.store.create(CAGES, cage('cf'), { fieldManager: 'kubectl' });
    await waitFor('Ready', () => readyAt(c.store, 'cf'));
    assert.ok(interfered);
    const errors =
      (await op.metrics.reconciles.get()).values.find((v) => v.labels.result === 'error')?.value ?? 0;
    assert.ok(errors >= 1, 'the conflict failed one reconcile, which was retried');

    // kubectl edit of a field the operator owns: without force, our apply would conflict...
    const cm = (await c.store.get(CONFIGMAPS, NS, 'cf-proxy-policy'))!;
    const ours = (cm.data as Record<string, string>)['policy.json'];
    await c.store.update(
      CONFIGMAPS,
      { ...cm, data: { 'policy.json': '{"allow":"everything"}' } },
      { fieldManager: 'kubectl-edit' },
    );
    await assert.rejects(
      c.store.apply(
        CONFIGMAPS,
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'cf-proxy-policy', namespace: NS },
          data: { 'policy.json': ours },
        },
        { fieldManager: 'agentcage', force: false },
      ),
      (e: unknown) => e instanceof ApiError && e.code === 409 && /kubectl-edit/.test(e.message),
    );
    // ...the operator applies with force and takes the field back.
    const restored = await waitFor('policy restored', async () => {
      const now = (await c.store.get(CONFIGMAPS, NS, 'cf-proxy-policy'))!;
      return (now.data as Record<string, string>)['policy.json'] === ours ? now : undefined;
    });
    const managers = restored.metadata.managedFields!.map(
      (m) => `${m.manager}:${JSON.stringify(m.fieldsV1)}`,
    );
    assert.ok(managers.some((m) => m.startsWith('agentcage:') && m.includes('f:policy.json')));
    assert.ok(!managers.some((m) => m.startsWith('kubectl-edit:') && m.includes('f:policy.json')));
  });

  it('recreates an owned object someone deleted, and takes back a label someone changed', async () => {
    c.addOperator();
    await c.store.create(CAGES, cage('heal'), { fieldManager: 'kubectl' });
    await waitFor('Ready', () => readyAt(c.store, 'heal'));
    const np = (await c.store.get(NETWORKPOLICIES, NS, 'heal-agent'))!;
    await c.store.delete(NETWORKPOLICIES, NS, 'heal-agent');
    const back = await waitFor('NetworkPolicy recreated', () =>
      c.store.get(NETWORKPOLICIES, NS, 'heal-agent'),
    );
    assert.notEqual(back.metadata.uid, np.metadata.uid);
    assert.deepEqual(back.spec, np.spec);

    const svc = (await c.store.get(SERVICES, NS, 'heal-proxy'))!;
    const labels = { ...svc.metadata.labels, 'app.kubernetes.io/component': 'something-else' };
    await c.store.update(
      SERVICES,
      { ...svc, metadata: { ...svc.metadata, labels } },
      { fieldManager: 'kubectl-edit' },
    );
    await waitFor('label restored', async () => {
      const now = (await c.store.get(SERVICES, NS, 'heal-proxy'))!;
      return now.metadata.labels?.['app.kubernetes.io/component'] === 'proxy';
    });
  });

  it('never takes over an object of the same name that the Cage does not own', async () => {
    c.addOperator();
    await c.store.create(
      CONFIGMAPS,
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'mine-ca', namespace: NS },
        data: { 'ca.crt': 'the team CA' },
      },
      { fieldManager: 'kubectl' },
    );
    await c.store.create(CAGES, cage('mine'), { fieldManager: 'kubectl' });
    const st = await waitFor('ApplyFailed', async () => {
      const s = await statusOf(c.store, 'mine');
      return condition(s, 'Ready')?.reason === REASON.ApplyFailed ? s : undefined;
    });
    assert.match(
      condition(st, 'Ready')!.message,
      /ConfigMap team-a\/mine-ca exists and is not owned by this Cage/,
    );
    assert.equal(
      ((await c.store.get(CONFIGMAPS, NS, 'mine-ca'))!.data as Record<string, string>)['ca.crt'],
      'the team CA',
    );
    assert.equal(await c.store.get(PODS, NS, 'mine-agent'), undefined, 'no agent without its whole cage');
  });

  it('rotates the cage CA before it expires: new Secret and ConfigMap, the proxy rolls, the agent is replaced', async () => {
    let now = new Date();
    const op = c.addOperator({ now: () => now });
    await c.store.create(CAGES, cage('rot'), { fieldManager: 'kubectl' });
    const s0 = await waitFor('Ready', () => readyAt(c.store, 'rot'));
    const pod0 = (await c.store.get(PODS, NS, 'rot-agent'))!;
    const notAfter = new Date(
      new X509Certificate(
        Buffer.from(
          ((await c.store.get(SECRETS, NS, 'rot-proxy-ca'))!.data as Record<string, string>)['tls.crt'],
          'base64',
        ).toString(),
      ).validTo,
    );
    // Ten days before expiry, and a change that makes the operator look (the resync would too).
    now = new Date(notAfter.getTime() - 10 * 86400_000);
    const cur = (await c.store.get(CAGES, NS, 'rot'))!;
    await c.store.update(
      CAGES,
      { ...cur, metadata: { ...cur.metadata, labels: { poke: '1' } } },
      { fieldManager: 'kubectl' },
    );
    const s1 = await waitFor('new CA and Ready', async () => {
      const s = await readyAt(c.store, 'rot');
      const pod = await c.store.get(PODS, NS, 'rot-agent');
      return s && s.caFingerprint !== s0.caFingerprint && pod && pod.metadata.uid !== pod0.metadata.uid
        ? s
        : undefined;
    });
    const crt = Buffer.from(
      ((await c.store.get(SECRETS, NS, 'rot-proxy-ca'))!.data as Record<string, string>)['tls.crt'],
      'base64',
    ).toString();
    assert.equal(new X509Certificate(crt).fingerprint256, s1.caFingerprint);
    assert.equal(
      ((await c.store.get(CONFIGMAPS, NS, 'rot-ca'))!.data as Record<string, string>)['ca.crt'],
      crt,
    );
    const tpl = ((await c.store.get(DEPLOYMENTS, NS, 'rot-proxy'))!.spec as { template: KubeObject })
      .template;
    assert.equal(
      tpl.metadata.annotations?.[CA_ANNOTATION],
      s1.caFingerprint,
      'the proxy rolls onto the new CA',
    );
    assert.ok(events(c, 'rot').some((e) => e.reason === 'CaRotated'));
    const minted = (await op.metrics.caMinted.get()).values.find(
      (v) => v.labels.reason === 'rotation',
    )?.value;
    assert.equal(minted, 1);
  });

  it('two replicas: one leader reconciles; when it stops, the other takes over', async () => {
    const lease = { durationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 100 };
    const a = c.addOperator({ leaderElection: true, identity: 'replica-a', lease });
    await waitFor('a leads', () => a.isLeader());
    const b = c.addOperator({ leaderElection: true, identity: 'replica-b', lease });
    await c.store.create(CAGES, cage('l1'), { fieldManager: 'kubectl' });
    await waitFor('l1 Ready', () => readyAt(c.store, 'l1'));
    // b has campaigned all along without winning.
    await waitFor('b tried', () => c.calls.filter((x) => x.resource === 'leases').length > 10);
    assert.equal(a.isLeader(), true);
    assert.equal(b.isLeader(), false);
    assert.equal(b.readyz().ok, true, 'a standby is ready');
    assert.equal((await b.metrics.reconciles.get()).values.length, 0, 'the standby reconciled nothing');
    const holder = (await c.store.get(
      { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true },
      'agentcage-system',
      'agentcage-operator',
    ))!;
    assert.equal((holder.spec as { holderIdentity: string }).holderIdentity, 'replica-a');

    await a.stop(); // hands the Lease back
    await waitFor('b leads', () => b.isLeader());
    await c.store.create(CAGES, cage('l2'), { fieldManager: 'kubectl' });
    await waitFor('l2 Ready under b', () => readyAt(c.store, 'l2'));
    assert.equal(a.isLeader(), false);
  });

  it('1,000 Cages converge', async function () {
    this.timeout(300_000);
    const op = c.addOperator({ workers: 8 });
    const N = 1000;
    for (let i = 0; i < N; i++)
      await c.store.create(CAGES, cage(`c${i}`, {}, `ns-${i % 20}`), { fieldManager: 'kubectl' });
    await waitFor('all Ready', () => {
      const all = c.store.all(CAGES);
      return all.every((x) => {
        const s = x.status as { phase?: string; observedGeneration?: number } | undefined;
        return s?.phase === 'Ready' && s.observedGeneration === x.metadata.generation;
      });
    });
    assert.equal(c.store.count(PODS), N);
    assert.equal(c.store.count(NETWORKPOLICIES), 3 * N);
    const errors =
      (await op.metrics.reconciles.get()).values.find((v) => v.labels.result === 'error')?.value ?? 0;
    assert.equal(errors, 0);
  });
});
