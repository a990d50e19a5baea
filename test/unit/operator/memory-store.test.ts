// The in-memory API store keeps the API server's semantics the controller relies on.
import assert from 'node:assert/strict';
import { ApiError } from '../../../operator/controller/kube/errors.ts';
import { MemoryApiServer } from '../../../operator/controller/kube/memory-store.ts';
import { CAGES, CONFIGMAPS, SERVICES } from '../../../operator/controller/kube/resources.ts';
import type { KubeObject, WatchEvent } from '../../../operator/controller/kube/types.ts';

const cage = (name: string, spec: Record<string, unknown> = { agent: { image: 'busybox' } }): KubeObject => ({
  apiVersion: 'agentcage.io/v1alpha1',
  kind: 'Cage',
  metadata: { name, namespace: 'ns1' },
  spec,
});
const cm = (
  name: string,
  data: Record<string, string>,
  extra: Partial<KubeObject['metadata']> = {},
): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'ns1', ...extra },
  data,
});

async function rejects(p: Promise<unknown>, code: number, reason: string): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.reason, reason);
    assert.equal(err.status.kind, 'Status');
    return err;
  }
  assert.fail(`expected ${code} ${reason}`);
}

const settle = () => new Promise((r) => setImmediate(r));

describe('operator/kube in-memory API store', () => {
  it('answers copies, counts resourceVersions and refuses a stale update with 409 Conflict', async () => {
    const s = new MemoryApiServer();
    const created = await s.create(CAGES, cage('a'), { fieldManager: 'kubectl' });
    assert.equal(created.metadata.generation, 1);
    assert.ok(created.metadata.uid);
    created.spec = { changed: true };
    assert.deepEqual((await s.get(CAGES, 'ns1', 'a'))!.spec, { agent: { image: 'busybox' } });

    const v1 = (await s.get(CAGES, 'ns1', 'a'))!;
    const v2 = await s.update(
      CAGES,
      { ...v1, spec: { agent: { image: 'alpine' } } },
      { fieldManager: 'kubectl' },
    );
    assert.ok(Number(v2.metadata.resourceVersion) > Number(v1.metadata.resourceVersion));
    await rejects(
      s.update(CAGES, { ...v1, spec: { agent: { image: 'x' } } }, { fieldManager: 'kubectl' }),
      409,
      'Conflict',
    );
    await rejects(s.create(CAGES, cage('a'), { fieldManager: 'kubectl' }), 409, 'AlreadyExists');
    await rejects(s.delete(CAGES, 'ns1', 'nope'), 404, 'NotFound');
    assert.equal(await s.get(CAGES, 'ns1', 'nope'), undefined);
  });

  it('bumps generation only for spec changes and keeps status to its subresource', async () => {
    const s = new MemoryApiServer();
    await s.create(CAGES, cage('a'), { fieldManager: 'kubectl' });
    let c = (await s.get(CAGES, 'ns1', 'a'))!;
    c = await s.update(
      CAGES,
      { ...c, metadata: { ...c.metadata, labels: { team: 'x' } } },
      { fieldManager: 'kubectl' },
    );
    assert.equal(c.metadata.generation, 1, 'a label is not a spec change');
    c = await s.patchStatus(CAGES, 'ns1', 'a', { phase: 'Ready' }, { fieldManager: 'agentcage' });
    assert.equal(c.metadata.generation, 1, 'a status write is not a spec change');
    assert.deepEqual(c.status, { phase: 'Ready' });
    // A main-resource update cannot change status.
    c = await s.update(CAGES, { ...c, status: { phase: 'Failed' } }, { fieldManager: 'kubectl' });
    assert.deepEqual(c.status, { phase: 'Ready' });
    c = await s.update(CAGES, { ...c, spec: { agent: { image: 'alpine' } } }, { fieldManager: 'kubectl' });
    assert.equal(c.metadata.generation, 2);
    // The status patch is a merge patch guarded by resourceVersion when one is given.
    await rejects(
      s.patchStatus(
        CAGES,
        'ns1',
        'a',
        { phase: 'Pending' },
        { fieldManager: 'agentcage', resourceVersion: '1' },
      ),
      409,
      'Conflict',
    );
  });

  it('keeps an object with finalizers until they are removed, then garbage-collects its dependents', async () => {
    const s = new MemoryApiServer();
    const owner = await s.create(
      CAGES,
      { ...cage('a'), metadata: { name: 'a', namespace: 'ns1', finalizers: ['agentcage.io/cleanup'] } },
      { fieldManager: 'kubectl' },
    );
    const ref = {
      apiVersion: owner.apiVersion,
      kind: 'Cage',
      name: 'a',
      uid: owner.metadata.uid!,
      controller: true,
    };
    await s.create(CONFIGMAPS, cm('a-policy', { k: 'v' }, { ownerReferences: [ref] }), { fieldManager: 'x' });
    const other = await s.create(CONFIGMAPS, cm('other', {}), { fieldManager: 'x' });
    const otherRef = { apiVersion: 'v1', kind: 'ConfigMap', name: 'other', uid: other.metadata.uid! };
    await s.create(CONFIGMAPS, cm('shared', {}, { ownerReferences: [ref, otherRef] }), { fieldManager: 'x' });

    assert.equal(await s.delete(CAGES, 'ns1', 'a'), false);
    const terminating = (await s.get(CAGES, 'ns1', 'a'))!;
    assert.ok(terminating.metadata.deletionTimestamp, 'deletion is pending on the finalizer');
    assert.ok(await s.get(CONFIGMAPS, 'ns1', 'a-policy'), 'dependents stay while the owner exists');
    await rejects(
      s.patchFinalizers(CAGES, 'ns1', 'a', ['agentcage.io/cleanup', 'new'], {
        fieldManager: 'agentcage',
        resourceVersion: terminating.metadata.resourceVersion!,
      }),
      422,
      'Invalid',
    );
    await s.patchFinalizers(CAGES, 'ns1', 'a', [], {
      fieldManager: 'agentcage',
      resourceVersion: terminating.metadata.resourceVersion!,
    });
    assert.equal(await s.get(CAGES, 'ns1', 'a'), undefined);
    assert.equal(
      await s.get(CONFIGMAPS, 'ns1', 'a-policy'),
      undefined,
      'the sole-owner dependent is collected',
    );
    const shared = (await s.get(CONFIGMAPS, 'ns1', 'shared'))!;
    assert.deepEqual(
      shared.metadata.ownerReferences?.map((r) => r.name),
      ['other'],
      'a dependent with a live owner loses only the reference',
    );
  });

  it('refuses a delete whose uid precondition names an earlier object', async () => {
    const s = new MemoryApiServer();
    const first = await s.create(CONFIGMAPS, cm('x', {}), { fieldManager: 'x' });
    await s.delete(CONFIGMAPS, 'ns1', 'x');
    await s.create(CONFIGMAPS, cm('x', {}), { fieldManager: 'x' });
    await rejects(s.delete(CONFIGMAPS, 'ns1', 'x', { uid: first.metadata.uid }), 409, 'Conflict');
    assert.ok(await s.get(CONFIGMAPS, 'ns1', 'x'));
  });

  describe('server-side apply', () => {
    it('creates, owns what it sends and drops what it stops sending', async () => {
      const s = new MemoryApiServer();
      const a = await s.apply(CONFIGMAPS, cm('c', { one: '1', two: '2' }), {
        fieldManager: 'agentcage',
        force: true,
      });
      assert.deepEqual(a.data, { one: '1', two: '2' });
      const mf = a.metadata.managedFields!;
      assert.equal(mf.length, 1);
      assert.equal(mf[0].manager, 'agentcage');
      assert.equal(mf[0].operation, 'Apply');
      assert.deepEqual(mf[0].fieldsV1, { 'f:data': { 'f:one': {}, 'f:two': {} } });
      const b = await s.apply(CONFIGMAPS, cm('c', { one: '1' }), { fieldManager: 'agentcage', force: true });
      assert.deepEqual(b.data, { one: '1' });
      // The same apply again changes nothing: no new resourceVersion.
      const c = await s.apply(CONFIGMAPS, cm('c', { one: '1' }), { fieldManager: 'agentcage', force: true });
      assert.equal(c.metadata.resourceVersion, b.metadata.resourceVersion);
    });

    it("conflicts with another manager's field unless forced, and force takes it over", async () => {
      const s = new MemoryApiServer();
      await s.apply(CONFIGMAPS, cm('c', { key: 'ours' }), { fieldManager: 'agentcage', force: true });
      const live = (await s.get(CONFIGMAPS, 'ns1', 'c'))!;
      await s.update(
        CONFIGMAPS,
        { ...live, data: { key: 'edited', extra: 'theirs' } },
        { fieldManager: 'kubectl-edit' },
      );
      const err = await rejects(
        s.apply(CONFIGMAPS, cm('c', { key: 'ours' }), { fieldManager: 'agentcage', force: false }),
        409,
        'Conflict',
      );
      assert.match(err.message, /conflict with "kubectl-edit".*\.data\.key/s);
      assert.equal(err.status.details?.causes?.[0].field, '.data.key');
      assert.equal(
        (await s.get(CONFIGMAPS, 'ns1', 'c'))!.data!.toString(),
        { key: 'edited', extra: 'theirs' }.toString(),
      );

      const forced = await s.apply(CONFIGMAPS, cm('c', { key: 'ours' }), {
        fieldManager: 'agentcage',
        force: true,
      });
      assert.deepEqual(forced.data, { key: 'ours', extra: 'theirs' }, "the other manager's own field stays");
      const edit = forced.metadata.managedFields!.find((m) => m.manager === 'kubectl-edit')!;
      assert.deepEqual(edit.fieldsV1, { 'f:data': { 'f:extra': {} } }, 'key moved to agentcage');
    });

    it('shares a field set to the same value and keeps it when one owner lets go', async () => {
      const s = new MemoryApiServer();
      await s.apply(CONFIGMAPS, cm('c', { shared: 'v', mine: 'm' }), { fieldManager: 'a', force: false });
      await s.apply(CONFIGMAPS, cm('c', { shared: 'v' }), { fieldManager: 'b', force: false });
      const after = await s.apply(CONFIGMAPS, cm('c', {}), { fieldManager: 'a', force: false });
      assert.deepEqual(after.data, { shared: 'v' });
    });

    it('merges keyed lists by name and removes an element the applier stops sending', async () => {
      const s = new MemoryApiServer();
      const dep = (containers: unknown[]): KubeObject => ({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'svc', namespace: 'ns1' },
        spec: { ports: containers },
      });
      const first = await s.apply(
        SERVICES,
        dep([
          { name: 'dns', port: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ]),
        { fieldManager: 'agentcage', force: true },
      );
      assert.match(
        String((first.spec as { clusterIP?: string }).clusterIP),
        /^10\.96\.\d+\.\d+$/,
        'clusterIP allocated',
      );
      const second = await s.apply(SERVICES, dep([{ name: 'dns', port: 5353 }]), {
        fieldManager: 'agentcage',
        force: true,
      });
      const spec = second.spec as { ports: unknown[]; clusterIP: string };
      assert.deepEqual(spec.ports, [{ name: 'dns', port: 5353 }]);
      assert.equal(spec.clusterIP, (first.spec as { clusterIP: string }).clusterIP, 'the clusterIP is kept');
    });
  });

  describe('watch', () => {
    it('streams changes, resumes from a resourceVersion, and answers 410 once history is gone', async () => {
      const s = new MemoryApiServer();
      const listed = await s.list(CONFIGMAPS, 'ns1');
      const seen: WatchEvent[] = [];
      const w = await s.watch(CONFIGMAPS, 'ns1', { resourceVersion: listed.resourceVersion }, (e) =>
        seen.push(e),
      );
      await s.create(CONFIGMAPS, cm('a', {}), { fieldManager: 'x' });
      const b = await s.create(CONFIGMAPS, cm('b', {}), { fieldManager: 'x' });
      await s.delete(CONFIGMAPS, 'ns1', 'a');
      await settle();
      assert.deepEqual(
        seen.map((e) => `${e.type} ${(e.object as KubeObject).metadata.name}`),
        ['ADDED a', 'ADDED b', 'DELETED a'],
      );
      w.stop();
      assert.equal(await w.done, null);

      const resumed: string[] = [];
      const w2 = await s.watch(CONFIGMAPS, 'ns1', { resourceVersion: b.metadata.resourceVersion! }, (e) =>
        resumed.push(`${e.type} ${(e.object as KubeObject).metadata.name}`),
      );
      await settle();
      assert.deepEqual(resumed, ['DELETED a'], 'only what happened after the resourceVersion');
      assert.equal(s.dropWatches(), 1);
      assert.match(String(await w2.done), /connection reset/);

      s.compact();
      const errors: WatchEvent[] = [];
      const w3 = await s.watch(CONFIGMAPS, 'ns1', { resourceVersion: b.metadata.resourceVersion! }, (e) =>
        errors.push(e),
      );
      assert.equal(await w3.done, null, 'the server closes the stream after the error');
      assert.equal(errors.length, 1);
      assert.equal(errors[0].type, 'ERROR');
      assert.equal((errors[0].object as { code: number }).code, 410);
    });

    it('sends bookmarks to watches that ask and maps label changes to ADDED/DELETED', async () => {
      const s = new MemoryApiServer();
      const seen: string[] = [];
      await s.watch(
        CONFIGMAPS,
        undefined,
        {
          resourceVersion: s.currentResourceVersion(),
          allowWatchBookmarks: true,
          labelSelector: 'app=agentcage',
        },
        (e) =>
          seen.push(
            `${e.type} ${(e.object as KubeObject).metadata.name || e.object.metadata.resourceVersion}`,
          ),
      );
      const x = await s.create(CONFIGMAPS, cm('x', {}), { fieldManager: 'x' });
      const y = await s.update(
        CONFIGMAPS,
        { ...x, metadata: { ...x.metadata, labels: { app: 'agentcage' } } },
        {
          fieldManager: 'x',
        },
      );
      await s.update(CONFIGMAPS, { ...y, metadata: { ...y.metadata, labels: {} } }, { fieldManager: 'x' });
      s.sendBookmarks();
      await settle();
      assert.deepEqual(seen, ['ADDED x', 'DELETED x', `BOOKMARK ${s.currentResourceVersion()}`]);
      s.dropWatches();
    });
  });
});
