// The controller's pure parts: status conditions, the work queue, backoff, label selectors, the
// cage CA decision and the kept placeholders.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { backoffDelay } from '../../../operator/controller/kube/backoff.ts';
import {
  CA_ROTATE_BEFORE_MS,
  caSecret,
  decideCa,
  mintCageCa,
  placeholdersSecret,
  readCaSecret,
  readPlaceholders,
} from '../../../operator/controller/kube/cage-state.ts';
import {
  mergeConditions,
  phaseOf,
  REASON,
  type ConditionUpdate,
} from '../../../operator/controller/kube/conditions.ts';
import { deploymentAvailable } from '../../../operator/controller/kube/deployment-availability.ts';
import { parseLabelSelector } from '../../../operator/controller/kube/label-selector.ts';
import { runWorkers, WorkQueue } from '../../../operator/controller/kube/work-queue.ts';
import { validateCage } from '../../../operator/api/load.ts';
import type { Cage } from '../../../operator/api/cage.ts';

const up = (
  type: ConditionUpdate['type'],
  status: ConditionUpdate['status'],
  reason: ConditionUpdate['reason'],
): ConditionUpdate => ({
  type,
  status,
  reason,
  message: `${type} ${status}`,
});

function testCage(): Cage {
  const r = validateCage({
    apiVersion: 'agentcage.io/v1alpha1',
    kind: 'Cage',
    metadata: { name: 'demo', namespace: 'ns1', uid: 'u-1' },
    spec: { agent: { image: 'busybox' }, secrets: [{ name: 'TOKEN', injectTo: ['api.example.com'] }] },
  });
  assert.ok(r.ok);
  return r.cage;
}

describe('operator/kube controller parts', () => {
  describe('conditions', () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const t1 = new Date('2026-01-01T00:05:00Z');

    it('moves lastTransitionTime only when a status flips, and reports the flips', () => {
      const a = mergeConditions(
        undefined,
        [up('Ready', 'False', REASON.ComponentsNotReady), up('ProxyReady', 'False', REASON.ProxyUnavailable)],
        1,
        t0,
      );
      assert.deepEqual(
        a.transitions.map((t) => [t.type, t.from, t.to]),
        [
          ['Ready', undefined, 'False'],
          ['ProxyReady', undefined, 'False'],
        ],
      );
      // Same status, new reason and message: no transition, time kept.
      const b = mergeConditions(
        a.conditions,
        [{ ...up('Ready', 'False', REASON.AgentPending), message: 'other' }],
        2,
        t1,
      );
      assert.deepEqual(b.transitions, []);
      const ready = b.conditions.find((c) => c.type === 'Ready')!;
      assert.equal(ready.lastTransitionTime, '2026-01-01T00:00:00Z');
      assert.equal(ready.reason, REASON.AgentPending);
      assert.equal(ready.observedGeneration, 2);
      // A flip moves it.
      const c = mergeConditions(b.conditions, [up('Ready', 'True', REASON.AllReady)], 2, t1);
      assert.equal(c.conditions.find((x) => x.type === 'Ready')!.lastTransitionTime, '2026-01-01T00:05:00Z');
      assert.deepEqual(
        c.transitions.map((t) => [t.from, t.to]),
        [['False', 'True']],
      );
      // Types not updated are kept, in a fixed order.
      assert.deepEqual(
        c.conditions.map((x) => x.type),
        ['Ready', 'ProxyReady'],
      );
    });

    it('every reason is a CamelCase constant the CRD pattern accepts', () => {
      for (const r of Object.values(REASON)) assert.match(r, /^[A-Z][A-Za-z]*$/);
    });

    it('derives the phase: Failed for a bad spec, Degraded after having been Ready, else Pending', () => {
      const ready = mergeConditions(undefined, [up('Ready', 'True', REASON.AllReady)], 1, t0).conditions;
      const waiting = mergeConditions(
        undefined,
        [up('Ready', 'False', REASON.ComponentsNotReady)],
        1,
        t0,
      ).conditions;
      const invalid = mergeConditions(
        undefined,
        [up('Ready', 'False', REASON.InvalidSpec)],
        1,
        t0,
      ).conditions;
      assert.equal(phaseOf(ready, undefined, false), 'Ready');
      assert.equal(phaseOf(waiting, undefined, false), 'Pending');
      assert.equal(phaseOf(waiting, 'Ready', false), 'Degraded');
      assert.equal(phaseOf(invalid, 'Ready', false), 'Failed');
      assert.equal(phaseOf(ready, 'Ready', true), 'Terminating');
    });
  });

  describe('work queue', () => {
    it('merges adds of a waiting key and never runs one key twice at once', async () => {
      const q = new WorkQueue({ baseMs: 1, maxMs: 5 });
      const running = new Set<string>();
      const runs: string[] = [];
      let overlap = false;
      q.add('a');
      q.add('a');
      q.add('b');
      const done = runWorkers(q, 4, async (key) => {
        if (running.has(key)) overlap = true;
        running.add(key);
        runs.push(key);
        // Adds while it runs: one more run afterwards, not a parallel one.
        if (runs.filter((k) => k === key).length === 1) {
          q.add(key);
          q.add(key);
        }
        await new Promise((r) => setTimeout(r, 5));
        running.delete(key);
      });
      while (runs.length < 4 || !q.idle()) await new Promise((r) => setTimeout(r, 5));
      q.shutdown();
      await done;
      assert.equal(overlap, false);
      assert.deepEqual(runs.sort(), ['a', 'a', 'b', 'b']);
    });

    it('retries a failing key with growing delays and starts over after a success', async () => {
      const q = new WorkQueue({ baseMs: 5, maxMs: 1000 });
      const times: number[] = [];
      const retries: number[] = [];
      q.add('k');
      const done = runWorkers(
        q,
        1,
        async () => {
          times.push(Date.now());
          if (times.length < 4) throw new Error('not yet');
        },
        (_key, _err, ms) => retries.push(ms),
      );
      while (times.length < 4) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(retries, [5, 10, 20], 'exponential');
      assert.equal(q.retries('k'), 0, 'forgotten after the success');
      q.shutdown();
      await done;
    });

    it('backoff grows to its cap and jitter only shortens it', () => {
      const p = { baseMs: 100, maxMs: 1000, jitter: 0.5 };
      assert.deepEqual(
        [1, 2, 3, 4, 5, 10].map((n) => backoffDelay(n, p, () => 0)),
        [100, 200, 400, 800, 1000, 1000],
      );
      assert.equal(
        backoffDelay(3, p, () => 1),
        200,
      );
    });
  });

  it('label selectors: equality, inequality, existence, in/notin', () => {
    const l = { app: 'agentcage', tier: 'proxy' };
    assert.equal(parseLabelSelector('app=agentcage,tier==proxy')(l), true);
    assert.equal(parseLabelSelector('app!=agentcage')(l), false);
    assert.equal(parseLabelSelector('tier,!missing')(l), true);
    assert.equal(parseLabelSelector('tier in (dns, proxy)')(l), true);
    assert.equal(parseLabelSelector('tier notin (proxy)')(l), false);
    assert.equal(parseLabelSelector('')(l), true);
    assert.throws(() => parseLabelSelector('a=(b'), /unable to parse/);
  });

  it('deployment availability: a rollout in progress with a replica still serving is available', () => {
    const dep = (generation: number, status?: Record<string, number>) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'demo-dns', namespace: 'team-a', generation },
      spec: { replicas: 1 },
      status,
    });
    assert.deepEqual(deploymentAvailable(undefined), { ok: false, detail: 'not created yet' });
    assert.deepEqual(deploymentAvailable(dep(1)), {
      ok: false,
      detail: '0/1 available, rollout in progress',
    });
    assert.deepEqual(deploymentAvailable(dep(1, { observedGeneration: 1, availableReplicas: 1 })), {
      ok: true,
      detail: '1/1 available',
    });
    // A new spec (dnsmasq's allowlist changed) the Deployment controller has not caught up with:
    // the old replica still serves.
    assert.deepEqual(deploymentAvailable(dep(2, { observedGeneration: 1, availableReplicas: 1 })), {
      ok: true,
      detail: '1/1 available, rollout in progress',
    });
    // No replica left serving is unavailable, rollout or not.
    assert.equal(deploymentAvailable(dep(2, { observedGeneration: 2, availableReplicas: 0 })).ok, false);
    assert.equal(deploymentAvailable(dep(2, { observedGeneration: 1 })).ok, false);
  });

  describe('cage state', () => {
    it('mints a CA once, keeps it, rotates it before expiry and replaces an unusable one', () => {
      const cage = testCage();
      const now = new Date();
      assert.equal(decideCa(undefined, now).action, 'mint');
      const ca = mintCageCa(cage, now);
      const secret = caSecret(cage, ca);
      assert.equal(secret.type, 'kubernetes.io/tls');
      assert.equal(secret.metadata.name, 'demo-proxy-ca');
      assert.equal(secret.metadata.ownerReferences?.[0].uid, 'u-1');
      const read = readCaSecret(secret);
      assert.ok(read && !('problem' in read));
      assert.equal(read.fingerprint, new X509Certificate(ca.certPem).fingerprint256);
      assert.equal(decideCa(read, now).action, 'keep');
      assert.equal(
        decideCa(read, new Date(read.notAfter.getTime() - CA_ROTATE_BEFORE_MS + 1000)).action,
        'rotate',
      );
      assert.equal(
        decideCa(read, new Date(read.notAfter.getTime() - CA_ROTATE_BEFORE_MS - 86400_000)).action,
        'keep',
      );
      // Another CA's key with this certificate: unusable, so replaced.
      const other = mintCageCa(cage, now);
      const mixed = {
        ...secret,
        data: { ...(secret.data as object), 'tls.key': Buffer.from(other.keyPem).toString('base64') },
      };
      const bad = readCaSecret(mixed);
      assert.ok(bad && 'problem' in bad);
      assert.match(bad.problem, /not the key/);
      assert.equal(decideCa(bad, now).action, 'mint');
    });

    it('keeps placeholders in a Secret and reads back exactly what it wrote', () => {
      const cage = testCage();
      const s = placeholdersSecret(cage, { TOKEN: 'agentcage-ph-0123456789abcdef0123456789abcdef' });
      assert.equal(s.metadata.name, 'demo-placeholders');
      assert.deepEqual(readPlaceholders(s), { TOKEN: 'agentcage-ph-0123456789abcdef0123456789abcdef' });
      assert.deepEqual(readPlaceholders(undefined), {});
      assert.deepEqual(
        readPlaceholders({ ...s, data: { 'placeholders.json': 'bm90IGpzb24=' } }),
        {},
        'garbage reads as none',
      );
    });
  });
});
