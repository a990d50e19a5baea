// The client-node adapter at the HTTP level: the requests it sends (method, path, query,
// content type, body, bearer token over verified TLS) and how it reads the API server's answers
// (objects, lists without apiVersion/kind on items, Status errors, newline-delimited watch streams).
import assert from 'node:assert/strict';
import { ClientNodeApi } from '../../../operator/controller/kube/client-node.ts';
import { ApiError } from '../../../operator/controller/kube/errors.ts';
import { Informer } from '../../../operator/controller/kube/informer.ts';
import { CAGES, CONFIGMAPS, EVENTS, LEASES } from '../../../operator/controller/kube/resources.ts';
import type { KubeObject, WatchEvent } from '../../../operator/controller/kube/types.ts';
import { sendJson, startLoopbackApiServer, status, type LoopbackApiServer } from './loopback-apiserver.ts';

const cageJson = (name: string, rv: string) => ({
  apiVersion: 'agentcage.io/v1alpha1',
  kind: 'Cage',
  metadata: { name, namespace: 'ns1', uid: `uid-${name}`, resourceVersion: rv, generation: 1 },
  spec: { agent: { image: 'busybox' } },
});

async function apiError(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected ApiError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an ApiError');
}

describe('operator/kube client-node adapter (HTTP level)', function () {
  this.timeout(20000);
  let srv: LoopbackApiServer;
  let api: ClientNodeApi;

  beforeEach(async () => {
    srv = await startLoopbackApiServer();
    api = ClientNodeApi.fromKubeconfig(srv.kubeconfigPath);
  });
  afterEach(async () => {
    api.close();
    await srv.close();
  });

  const last = () => srv.requests[srv.requests.length - 1];

  it('gets an object with the bearer token over verified TLS, and answers undefined on 404', async () => {
    srv.setHandler((req, res) => {
      if (req.path.endsWith('/cages/a')) return sendJson(res, 200, cageJson('a', '7'));
      sendJson(res, 404, status(404, 'NotFound', 'cages.agentcage.io "b" not found', { name: 'b' }));
    });
    const got = await api.get(CAGES, 'ns1', 'a');
    assert.equal(got?.metadata.resourceVersion, '7');
    assert.equal(last().method, 'GET');
    assert.equal(last().path, '/apis/agentcage.io/v1alpha1/namespaces/ns1/cages/a');
    assert.equal(last().headers.authorization, `Bearer ${srv.token}`);
    assert.equal(await api.get(CAGES, 'ns1', 'b'), undefined);
  });

  it('lists page by page with the label selector, filling in apiVersion and kind on items', async () => {
    srv.setHandler((req, res) => {
      const page2 = req.query.get('continue') === 'tok';
      sendJson(res, 200, {
        kind: 'ConfigMapList',
        apiVersion: 'v1',
        metadata: { resourceVersion: page2 ? '42' : '41', ...(page2 ? {} : { continue: 'tok' }) },
        // As kube-apiserver sends them: items of a built-in list carry no apiVersion/kind.
        items: [{ metadata: { name: page2 ? 'b' : 'a', namespace: 'ns1', resourceVersion: '5' }, data: {} }],
      });
    });
    const l = await api.list(CONFIGMAPS, undefined, {
      labelSelector: 'app.kubernetes.io/managed-by=agentcage',
    });
    assert.deepEqual(
      l.items.map((i) => [i.apiVersion, i.kind, i.metadata.name]),
      [
        ['v1', 'ConfigMap', 'a'],
        ['v1', 'ConfigMap', 'b'],
      ],
    );
    assert.equal(l.resourceVersion, '42');
    assert.equal(srv.requests[0].path, '/api/v1/configmaps', 'all namespaces');
    assert.equal(srv.requests[0].query.get('labelSelector'), 'app.kubernetes.io/managed-by=agentcage');
    assert.equal(srv.requests[1].query.get('continue'), 'tok');
  });

  it('applies as PATCH application/apply-patch+yaml with fieldManager and force, and reads a 409 conflict', async () => {
    const cm: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'ns1' },
      data: { k: 'v' },
    };
    srv.setHandler((req, res) =>
      sendJson(res, 200, { ...JSON.parse(req.body), metadata: { name: 'c', resourceVersion: '9' } }),
    );
    const out = await api.apply(CONFIGMAPS, cm, { fieldManager: 'agentcage', force: true });
    assert.equal(out.metadata.resourceVersion, '9');
    const r = last();
    assert.equal(r.method, 'PATCH');
    assert.equal(r.path, '/api/v1/namespaces/ns1/configmaps/c');
    assert.equal(r.headers['content-type'], 'application/apply-patch+yaml');
    assert.equal(r.query.get('fieldManager'), 'agentcage');
    assert.equal(r.query.get('force'), 'true');
    assert.deepEqual(JSON.parse(r.body), cm);

    srv.setHandler((_req, res) =>
      sendJson(
        res,
        409,
        status(
          409,
          'Conflict',
          'Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.k',
          {
            name: 'c',
            kind: 'configmaps',
            causes: [
              {
                reason: 'FieldManagerConflict',
                message: 'conflict with "kubectl-edit" using v1',
                field: '.data.k',
              },
            ],
          },
        ),
      ),
    );
    const err = await apiError(api.apply(CONFIGMAPS, cm, { fieldManager: 'agentcage', force: false }));
    assert.equal(err.code, 409);
    assert.equal(err.reason, 'Conflict');
    assert.equal(err.status.details?.causes?.[0].field, '.data.k');
    assert.equal(last().query.get('force'), 'false');
  });

  it('patches status and finalizers as merge patches guarded by resourceVersion', async () => {
    srv.setHandler((req, res) => {
      const body = JSON.parse(req.body) as { metadata?: { resourceVersion?: string } };
      if (body.metadata?.resourceVersion === 'stale')
        return sendJson(
          res,
          409,
          status(
            409,
            'Conflict',
            'Operation cannot be fulfilled on cages.agentcage.io "a": the object has been modified; please apply your changes to the latest version and try again',
          ),
        );
      sendJson(res, 200, cageJson('a', '10'));
    });
    await api.patchStatus(
      CAGES,
      'ns1',
      'a',
      { phase: 'Ready' },
      { fieldManager: 'agentcage', resourceVersion: '9' },
    );
    let r = last();
    assert.equal(r.method, 'PATCH');
    assert.equal(r.path, '/apis/agentcage.io/v1alpha1/namespaces/ns1/cages/a/status');
    assert.equal(r.headers['content-type'], 'application/merge-patch+json');
    assert.deepEqual(JSON.parse(r.body), { status: { phase: 'Ready' }, metadata: { resourceVersion: '9' } });

    await api.patchFinalizers(CAGES, 'ns1', 'a', [], { fieldManager: 'agentcage', resourceVersion: '10' });
    r = last();
    assert.equal(r.path, '/apis/agentcage.io/v1alpha1/namespaces/ns1/cages/a');
    assert.deepEqual(JSON.parse(r.body), { metadata: { finalizers: null, resourceVersion: '10' } });

    const err = await apiError(
      api.patchFinalizers(CAGES, 'ns1', 'a', ['agentcage.io/cleanup'], {
        fieldManager: 'agentcage',
        resourceVersion: 'stale',
      }),
    );
    assert.equal(err.code, 409);
    assert.match(err.message, /has been modified/);
  });

  it('deletes with a uid precondition and reports an object already gone', async () => {
    srv.setHandler((req, res) => {
      if (req.path.endsWith('/gone'))
        return sendJson(res, 404, status(404, 'NotFound', 'configmaps "gone" not found'));
      sendJson(res, 200, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { name: 'c' },
      });
    });
    assert.equal(
      await api.delete(CONFIGMAPS, 'ns1', 'c', { uid: 'u-1', propagationPolicy: 'Background' }),
      false,
    );
    assert.equal(last().method, 'DELETE');
    assert.deepEqual(JSON.parse(last().body), {
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      propagationPolicy: 'Background',
      preconditions: { uid: 'u-1' },
    });
    assert.equal(await api.delete(CONFIGMAPS, 'ns1', 'gone'), true);
  });

  it('creates Events and creates/updates Leases at their REST paths', async () => {
    srv.setHandler((req, res) => {
      if (req.method === 'POST' && req.path.endsWith('/leases'))
        return sendJson(
          res,
          409,
          status(409, 'AlreadyExists', 'leases.coordination.k8s.io "op" already exists'),
        );
      sendJson(res, req.method === 'POST' ? 201 : 200, JSON.parse(req.body));
    });
    const ev: KubeObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'a.1', namespace: 'ns1' },
      reason: 'Ready',
    };
    await api.create(EVENTS, ev, { fieldManager: 'agentcage' });
    assert.equal(last().method, 'POST');
    assert.equal(last().path, '/api/v1/namespaces/ns1/events');
    const lease: KubeObject = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'op', namespace: 'sys', resourceVersion: '3' },
      spec: { holderIdentity: 'me' },
    };
    const err = await apiError(api.create(LEASES, lease, { fieldManager: 'agentcage' }));
    assert.equal(err.reason, 'AlreadyExists');
    await api.update(LEASES, lease, { fieldManager: 'agentcage' });
    assert.equal(last().method, 'PUT');
    assert.equal(last().path, '/apis/coordination.k8s.io/v1/namespaces/sys/leases/op');
  });

  it('reads a newline-delimited watch stream, bookmarks and a 410 ERROR event', async () => {
    srv.setHandler((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      const line = (o: unknown) => res.write(JSON.stringify(o) + '\n');
      line({ type: 'ADDED', object: cageJson('a', '11') });
      line({
        type: 'BOOKMARK',
        object: { kind: 'Cage', apiVersion: 'agentcage.io/v1alpha1', metadata: { resourceVersion: '12' } },
      });
      // One event split across two writes: the client must join the line.
      const split = JSON.stringify({ type: 'MODIFIED', object: cageJson('a', '13') }) + '\n';
      res.write(split.slice(0, 20));
      setTimeout(() => {
        res.write(split.slice(20));
        line({ type: 'ERROR', object: status(410, 'Expired', 'too old resource version: 1 (13)') });
        res.end();
      }, 20);
    });
    const seen: WatchEvent[] = [];
    const w = await api.watch(
      CAGES,
      'ns1',
      { resourceVersion: '10', allowWatchBookmarks: true, timeoutSeconds: 30 },
      (e) => seen.push(e),
    );
    assert.equal(await w.done, null, 'a stream the server ends cleanly');
    assert.deepEqual(
      seen.map((e) => [e.type, e.object.metadata.resourceVersion ?? (e.object as { code?: number }).code]),
      [
        ['ADDED', '11'],
        ['BOOKMARK', '12'],
        ['MODIFIED', '13'],
        ['ERROR', 410],
      ],
    );
    const q = srv.requests[0].query;
    assert.equal(srv.requests[0].path, '/apis/agentcage.io/v1alpha1/namespaces/ns1/cages');
    assert.equal(q.get('watch'), 'true');
    assert.equal(q.get('resourceVersion'), '10');
    assert.equal(q.get('allowWatchBookmarks'), 'true');
    assert.equal(q.get('timeoutSeconds'), '30');
  });

  it('reports a watch refused with an HTTP error as an ApiError carrying the code', async () => {
    srv.setHandler((_req, res) =>
      sendJson(res, 403, status(403, 'Forbidden', 'cages.agentcage.io is forbidden')),
    );
    const w = await api.watch(CAGES, undefined, { resourceVersion: '1' }, () => {});
    const err = await w.done;
    assert.ok(err instanceof ApiError);
    assert.equal(err.code, 403);
  });

  it('an informer relists when the watch itself is refused with HTTP 410 Gone', async () => {
    let lists = 0;
    let watches = 0;
    srv.setHandler((req, res) => {
      if (req.query.get('watch') !== 'true') {
        lists++;
        return sendJson(res, 200, {
          kind: 'CageList',
          apiVersion: 'agentcage.io/v1alpha1',
          metadata: { resourceVersion: String(100 * lists) },
          items: [cageJson('a', String(100 * lists))],
        });
      }
      watches++;
      if (watches === 1)
        return sendJson(res, 410, status(410, 'Expired', 'too old resource version: 100 (250)'));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
    });
    const inf = new Informer(api, {
      type: CAGES,
      backoff: { baseMs: 10, maxMs: 50 },
      watchTimeoutSeconds: 60,
    });
    inf.start();
    for (let i = 0; i < 400 && watches < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await inf.stop();
    assert.equal(lists, 2, 'listed again after the 410');
    const rvs = srv.requests
      .filter((r) => r.query.get('watch') === 'true')
      .map((r) => r.query.get('resourceVersion'));
    assert.deepEqual(rvs.slice(0, 2), ['100', '200'], 'the second watch starts from the new list');
    assert.equal(inf.get('ns1', 'a')?.metadata.resourceVersion, '200');
  });

  it('an informer over the adapter resumes a dropped watch from its last resourceVersion and relists on 410', async () => {
    let watches = 0;
    let lists = 0;
    srv.setHandler((req, res) => {
      if (req.query.get('watch') !== 'true') {
        lists++;
        return sendJson(res, 200, {
          kind: 'CageList',
          apiVersion: 'agentcage.io/v1alpha1',
          metadata: { resourceVersion: lists === 1 ? '100' : '300' },
          items: lists === 1 ? [cageJson('a', '100')] : [cageJson('b', '300')],
        });
      }
      watches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      if (watches === 1) {
        res.write(JSON.stringify({ type: 'MODIFIED', object: cageJson('a', '150') }) + '\n');
        // The connection drops mid-stream.
        setTimeout(() => res.socket?.destroy(), 20);
      } else if (watches === 2) {
        res.write(
          JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', 'too old resource version') }) +
            '\n',
        );
        res.end();
      } else {
        res.write(JSON.stringify({ type: 'ADDED', object: cageJson('c', '301') }) + '\n');
      }
    });
    const inf = new Informer(api, {
      type: CAGES,
      namespace: 'ns1',
      backoff: { baseMs: 10, maxMs: 50 },
      watchTimeoutSeconds: 60,
    });
    const deleted: string[] = [];
    inf.addHandlers({ onDelete: (o) => deleted.push(o.metadata.name) });
    inf.start();
    for (let i = 0; i < 400 && !(inf.get('ns1', 'c') && watches >= 3); i++)
      await new Promise((r) => setTimeout(r, 10));
    await inf.stop();
    const watchRvs = srv.requests
      .filter((r) => r.query.get('watch') === 'true')
      .map((r) => r.query.get('resourceVersion'));
    assert.deepEqual(watchRvs.slice(0, 3), ['100', '150', '300'], 'resume from 150, then from the relist');
    assert.equal(lists, 2, 'one relist after the 410');
    assert.deepEqual(deleted, ['a'], 'the relist dropped what no longer exists');
    assert.deepEqual([...inf.list()].map((o) => o.metadata.name).sort(), ['b', 'c']);
  });
});
