// The ApiClient over @kubernetes/client-node 1.x: its KubeConfig (kubeconfig files, in-cluster
// service account, exec/OIDC auth, TLS) and HTTP stack carry every request, and its Watch reads
// watch streams. Requests are plain JSON on the REST paths, so objects reach the controller
// exactly as the API server wrote them (the typed API classes would turn timestamps into Dates
// and have no generic /status or server-side apply call).
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { ApiError, isStatusObject, statusObject } from './errors.ts';
import {
  apiVersionOf,
  type ApiClient,
  type ApplyOptions,
  type DeleteOptions,
  type KubeList,
  type KubeObject,
  type ListOptions,
  type ResourceType,
  type WatchEvent,
  type WatchHandle,
  type WatchOptions,
} from './types.ts';

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export function collectionPath(t: ResourceType, namespace: string | undefined): string {
  const root = t.group === '' ? `/api/${t.version}` : `/apis/${t.group}/${t.version}`;
  const ns = t.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${root}${ns}/${t.plural}`;
}

export function itemPath(t: ResourceType, namespace: string | undefined, name: string): string {
  return `${collectionPath(t, namespace)}/${encodeURIComponent(name)}`;
}

/** Subclassed only to reach the configuration (server, auth, HTTP library) client-node built. */
class Transport extends k8s.KubernetesObjectApi {
  private agents = new Map<string, http.Agent>();

  async send(
    method: k8s.HttpMethod,
    path: string,
    query: Record<string, string | undefined>,
    body?: { contentType: string; data: unknown },
  ): Promise<{ code: number; text: string }> {
    const ctx = this.configuration.baseServer.makeRequestContext(path, method);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) ctx.setQueryParam(k, v);
    ctx.setHeaderParam('Accept', 'application/json');
    if (body) {
      ctx.setHeaderParam('Content-Type', body.contentType);
      ctx.setBody(JSON.stringify(body.data));
    }
    await this.configuration.authMethods.default?.applySecurityAuthentication(ctx);
    this.reuseConnections(ctx);
    const resp = await this.configuration.httpApi.send(ctx).toPromise();
    return { code: resp.httpStatusCode, text: await resp.body.text() };
  }

  /**
   * client-node makes a fresh agent (so a fresh TCP+TLS connection) per request; keep one
   * keep-alive agent per distinct TLS identity instead.
   */
  private reuseConnections(ctx: k8s.RequestContext) {
    const fresh = ctx.getAgent() as (http.Agent & { options?: Record<string, unknown> }) | undefined;
    const ctor: unknown = fresh?.constructor;
    if (!fresh || (ctor !== https.Agent && ctor !== http.Agent)) return;
    const o = fresh.options ?? {};
    const id = createHash('sha256')
      .update(JSON.stringify([ctor === https.Agent, o.ca, o.cert, o.key, o.servername, o.rejectUnauthorized]))
      .digest('hex');
    let agent = this.agents.get(id);
    if (!agent) {
      const opts = { ...o, keepAlive: true, maxSockets: 32 };
      agent = ctor === https.Agent ? new https.Agent(opts) : new http.Agent(opts);
      this.agents.set(id, agent);
    }
    fresh.destroy();
    ctx.setAgent(agent);
  }

  close() {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

export class ClientNodeApi implements ApiClient {
  private readonly transport: Transport;
  private readonly watcher: k8s.Watch;

  constructor(readonly kubeConfig: k8s.KubeConfig) {
    this.transport = kubeConfig.makeApiClient(Transport);
    this.watcher = new k8s.Watch(kubeConfig);
  }

  /** --kubeconfig F, else $KUBECONFIG / ~/.kube/config, else the in-cluster service account. */
  static fromKubeconfig(file?: string): ClientNodeApi {
    const kc = new k8s.KubeConfig();
    if (file) kc.loadFromFile(file);
    else kc.loadFromDefault();
    return new ClientNodeApi(kc);
  }

  close(): void {
    this.transport.close();
  }

  private async call(
    method: k8s.HttpMethod,
    path: string,
    query: Record<string, string | undefined> = {},
    body?: { contentType: string; data: unknown },
  ): Promise<unknown> {
    const { code, text } = await this.transport.send(method, path, query, body);
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (code >= 200 && code < 300) return parsed;
    if (isStatusObject(parsed)) throw new ApiError(parsed);
    throw new ApiError(
      statusObject(code, REASONS[code] ?? 'Unknown', `${method} ${path}: HTTP ${code} ${text.slice(0, 200)}`),
    );
  }

  async get(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<KubeObject | undefined> {
    try {
      return (await this.call(k8s.HttpMethod.GET, itemPath(type, namespace, name))) as KubeObject;
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  async list(type: ResourceType, namespace: string | undefined, opts: ListOptions = {}): Promise<KubeList> {
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    // Paged, so a cluster with many objects never answers one huge list.
    do {
      const l = (await this.call(k8s.HttpMethod.GET, collectionPath(type, namespace), {
        labelSelector: opts.labelSelector,
        limit: '500',
        continue: cont,
      })) as { items?: KubeObject[]; metadata?: { resourceVersion?: string; continue?: string } };
      // The API server leaves apiVersion and kind off the items of a list.
      for (const i of l.items ?? []) items.push({ ...i, apiVersion: apiVersionOf(type), kind: type.kind });
      resourceVersion = l.metadata?.resourceVersion ?? '';
      cont = l.metadata?.continue || undefined;
    } while (cont);
    return { items, resourceVersion };
  }

  async watch(
    type: ResourceType,
    namespace: string | undefined,
    opts: WatchOptions,
    onEvent: (event: WatchEvent) => void,
  ): Promise<WatchHandle> {
    let settle!: (e: Error | null) => void;
    const done = new Promise<Error | null>((r) => (settle = r));
    let stopped = false;
    const controller = await this.watcher.watch(
      collectionPath(type, namespace),
      {
        resourceVersion: opts.resourceVersion,
        allowWatchBookmarks: opts.allowWatchBookmarks,
        labelSelector: opts.labelSelector,
        timeoutSeconds: opts.timeoutSeconds,
      },
      (phase: string, obj: unknown) => {
        if (!stopped) onEvent({ type: phase as WatchEvent['type'], object: obj as KubeObject });
      },
      (err: unknown) => {
        if (stopped || !err) return settle(null);
        const code = (err as { statusCode?: number }).statusCode;
        if (typeof code === 'number')
          return settle(
            new ApiError(
              statusObject(code, REASONS[code] ?? 'Unknown', `watch ${type.plural}: HTTP ${code}`),
            ),
          );
        settle(err instanceof Error ? err : new Error(String(err)));
      },
    );
    return {
      done,
      stop: () => {
        stopped = true;
        controller.abort();
        settle(null);
      },
    };
  }

  async apply(type: ResourceType, obj: KubeObject, opts: ApplyOptions): Promise<KubeObject> {
    return (await this.call(
      k8s.HttpMethod.PATCH,
      itemPath(type, obj.metadata.namespace, obj.metadata.name),
      { fieldManager: opts.fieldManager, force: String(opts.force) },
      { contentType: k8s.PatchStrategy.ServerSideApply, data: obj },
    )) as KubeObject;
  }

  async delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<boolean> {
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.uid) body.preconditions = { uid: opts.uid };
    try {
      await this.call(
        k8s.HttpMethod.DELETE,
        itemPath(type, namespace, name),
        {},
        {
          contentType: 'application/json',
          data: body,
        },
      );
      return false;
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return true;
      throw err;
    }
  }

  async patchStatus(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    status: Record<string, unknown>,
    opts: { fieldManager: string; resourceVersion?: string },
  ): Promise<KubeObject> {
    const data: Record<string, unknown> = { status };
    if (opts.resourceVersion) data.metadata = { resourceVersion: opts.resourceVersion };
    return (await this.call(
      k8s.HttpMethod.PATCH,
      `${itemPath(type, namespace, name)}/status`,
      { fieldManager: opts.fieldManager },
      { contentType: k8s.PatchStrategy.MergePatch, data },
    )) as KubeObject;
  }

  async patchFinalizers(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    finalizers: string[],
    opts: { fieldManager: string; resourceVersion: string },
  ): Promise<KubeObject> {
    // A merge patch that carries metadata.resourceVersion is refused with 409 when it is stale.
    return (await this.call(
      k8s.HttpMethod.PATCH,
      itemPath(type, namespace, name),
      { fieldManager: opts.fieldManager },
      {
        contentType: k8s.PatchStrategy.MergePatch,
        data: {
          metadata: {
            finalizers: finalizers.length > 0 ? finalizers : null,
            resourceVersion: opts.resourceVersion,
          },
        },
      },
    )) as KubeObject;
  }

  async create(type: ResourceType, obj: KubeObject, opts: { fieldManager: string }): Promise<KubeObject> {
    return (await this.call(
      k8s.HttpMethod.POST,
      collectionPath(type, obj.metadata.namespace),
      { fieldManager: opts.fieldManager },
      { contentType: 'application/json', data: obj },
    )) as KubeObject;
  }

  async update(type: ResourceType, obj: KubeObject, opts: { fieldManager: string }): Promise<KubeObject> {
    return (await this.call(
      k8s.HttpMethod.PUT,
      itemPath(type, obj.metadata.namespace, obj.metadata.name),
      { fieldManager: opts.fieldManager },
      { contentType: 'application/json', data: obj },
    )) as KubeObject;
  }
}
