// The in-memory API store behind kube-apiserver's REST paths, on the loopback TLS server: lets the
// real operator process (client-node over HTTPS) run against it. Answers as the API server does:
// Status objects for errors, list items without apiVersion/kind, watches as newline-delimited JSON.
import type { ServerResponse } from 'node:http';
import { ApiError } from '../../../operator/controller/kube/errors.ts';
import type { MemoryApiServer } from '../../../operator/controller/kube/memory-store.ts';
import { CAGES, EVENTS, LEASES, OWNED_TYPES } from '../../../operator/controller/kube/resources.ts';
import { apiVersionOf, type KubeObject, type ResourceType } from '../../../operator/controller/kube/types.ts';
import { sendJson, status, type Handler, type RecordedRequest } from './loopback-apiserver.ts';

const TYPES = [CAGES, EVENTS, LEASES, ...OWNED_TYPES];

interface Route {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

function route(path: string): Route | undefined {
  const parts = path.split('/').filter(Boolean);
  let group = '';
  let version: string;
  let rest: string[];
  if (parts[0] === 'api') {
    version = parts[1];
    rest = parts.slice(2);
  } else if (parts[0] === 'apis') {
    group = parts[1];
    version = parts[2];
    rest = parts.slice(3);
  } else return undefined;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = decodeURIComponent(rest[1]);
    rest = rest.slice(2);
  }
  const type = TYPES.find((t) => t.group === group && t.version === version && t.plural === rest[0]);
  if (!type) return undefined;
  return { type, namespace, name: rest[1] && decodeURIComponent(rest[1]), subresource: rest[2] };
}

function fail(res: ServerResponse, err: unknown) {
  if (err instanceof ApiError) return sendJson(res, err.code, err.status);
  sendJson(res, 500, status(500, 'InternalError', String(err)));
}

export function memoryHandler(store: MemoryApiServer): Handler {
  return (req: RecordedRequest, res: ServerResponse) => {
    const r = route(req.path);
    if (!r)
      return sendJson(res, 404, status(404, 'NotFound', `the server could not find the requested resource`));
    const { type, namespace, name } = r;
    const q = req.query;
    const body = () => JSON.parse(req.body || '{}') as Record<string, unknown>;
    const manager = q.get('fieldManager') ?? 'unknown';
    const run = async () => {
      if (req.method === 'GET' && !name && q.get('watch') === 'true') {
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        res.flushHeaders(); // as kube-apiserver does: headers first, events as they come
        const w = await store.watch(
          type,
          namespace,
          {
            resourceVersion: q.get('resourceVersion') ?? '',
            allowWatchBookmarks: q.get('allowWatchBookmarks') === 'true',
            labelSelector: q.get('labelSelector') ?? undefined,
          },
          (e) => res.write(JSON.stringify(e) + '\n'),
        );
        res.on('close', () => w.stop());
        const ended = await w.done;
        // A dropped watch drops the connection; a clean end ends the response.
        if (ended) res.socket?.destroy();
        else res.end();
        return;
      }
      if (req.method === 'GET' && !name) {
        const l = await store.list(type, namespace, { labelSelector: q.get('labelSelector') ?? undefined });
        return sendJson(res, 200, {
          kind: `${type.kind}List`,
          apiVersion: apiVersionOf(type),
          metadata: { resourceVersion: l.resourceVersion },
          // kube-apiserver leaves apiVersion and kind off list items.
          items: l.items.map((i) => {
            const copy: Record<string, unknown> = { ...i };
            delete copy.apiVersion;
            delete copy.kind;
            return copy;
          }),
        });
      }
      if (req.method === 'GET') {
        const o = await store.get(type, namespace, name!);
        if (!o) return sendJson(res, 404, status(404, 'NotFound', `${type.plural} "${name}" not found`));
        return sendJson(res, 200, o);
      }
      if (req.method === 'POST')
        return sendJson(res, 201, await store.create(type, body() as KubeObject, { fieldManager: manager }));
      if (req.method === 'PUT')
        return sendJson(res, 200, await store.update(type, body() as KubeObject, { fieldManager: manager }));
      if (req.method === 'DELETE') {
        const b = body() as { propagationPolicy?: 'Background'; preconditions?: { uid?: string } };
        await store.delete(type, namespace, name!, {
          propagationPolicy: b.propagationPolicy,
          uid: b.preconditions?.uid,
        });
        return sendJson(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
      }
      if (req.method === 'PATCH') {
        const ct = String(req.headers['content-type'] ?? '');
        if (ct === 'application/apply-patch+yaml')
          return sendJson(
            res,
            200,
            await store.apply(type, body() as KubeObject, {
              fieldManager: manager,
              force: q.get('force') === 'true',
            }),
          );
        if (ct !== 'application/merge-patch+json')
          return sendJson(
            res,
            415,
            status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format: ${ct}`),
          );
        const b = body() as {
          metadata?: { resourceVersion?: string; finalizers?: string[] | null };
          status?: Record<string, unknown>;
        };
        if (r.subresource === 'status')
          return sendJson(
            res,
            200,
            await store.patchStatus(type, namespace, name!, b.status ?? {}, {
              fieldManager: manager,
              resourceVersion: b.metadata?.resourceVersion,
            }),
          );
        if (b.metadata && 'finalizers' in b.metadata)
          return sendJson(
            res,
            200,
            await store.patchFinalizers(type, namespace, name!, b.metadata.finalizers ?? [], {
              fieldManager: manager,
              resourceVersion: b.metadata.resourceVersion ?? '',
            }),
          );
        return sendJson(res, 422, status(422, 'Invalid', 'this stand-in only merges status and finalizers'));
      }
      sendJson(res, 405, status(405, 'MethodNotAllowed', `${req.method} is not supported`));
    };
    run().catch((err) => {
      if (!res.headersSent) fail(res, err);
      else res.socket?.destroy();
    });
  };
}
