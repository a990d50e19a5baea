// A list+watch cache of one resource type. It lists once, then watches from the list's
// resourceVersion; whenever the watch ends it resumes from the last resourceVersion it saw
// (bookmarks included), backing off while failures repeat, and lists again when the server
// says that version is gone (410). Handlers see every change exactly as the cache does.
import { backoffDelay, type BackoffPolicy } from './backoff.ts';
import { isApiError, isStatusObject } from './errors.ts';
import {
  keyOf,
  objectKey,
  type ApiClient,
  type KubeObject,
  type ResourceType,
  type WatchEvent,
  type WatchHandle,
} from './types.ts';

export interface InformerHandlers {
  onAdd?(obj: KubeObject): void;
  onUpdate?(old: KubeObject, obj: KubeObject): void;
  onDelete?(obj: KubeObject): void;
}

export interface InformerOptions {
  type: ResourceType;
  namespace?: string;
  labelSelector?: string;
  /** Applied to every object before it is cached (e.g. dropping managedFields to save memory). */
  transform?: (obj: KubeObject) => KubeObject;
  backoff?: BackoffPolicy;
  /** The server ends each watch after this long; the informer then resumes. */
  watchTimeoutSeconds?: number;
  onWatchFailure?: (err: unknown, retryInMs: number) => void;
}

export interface InformerStats {
  lists: number;
  watches: number;
  failures: number;
  relists: number;
}

/** The default transform: managedFields are large and the controller never reads them. */
export function dropManagedFields(obj: KubeObject): KubeObject {
  if (obj.metadata.managedFields) delete obj.metadata.managedFields;
  return obj;
}

export class Informer {
  private cache = new Map<string, KubeObject>();
  private indexes = new Map<string, { fn: (obj: KubeObject) => string[]; map: Map<string, Set<string>> }>();
  private handlers: InformerHandlers[] = [];
  private lastRv = '';
  private stopped = true;
  private running?: Promise<void>;
  private stopCurrent?: () => void;
  private wake?: () => void;
  private stopSignal: Promise<undefined> = new Promise(() => {});
  private signalStop: () => void = () => {};
  private syncedResolve!: () => void;
  readonly synced: Promise<void>;
  private isSynced = false;
  readonly stats: InformerStats = { lists: 0, watches: 0, failures: 0, relists: 0 };

  constructor(
    private readonly client: ApiClient,
    private readonly opts: InformerOptions,
  ) {
    this.synced = new Promise((r) => (this.syncedResolve = r));
  }

  get type(): ResourceType {
    return this.opts.type;
  }

  addHandlers(h: InformerHandlers): void {
    this.handlers.push(h);
  }

  /** Maintains an index (e.g. owner uid -> objects); add before start(). */
  addIndex(name: string, fn: (obj: KubeObject) => string[]): void {
    this.indexes.set(name, { fn, map: new Map() });
  }

  byIndex(name: string, value: string): KubeObject[] {
    const keys = this.indexes.get(name)?.map.get(value);
    if (!keys) return [];
    return [...keys].map((k) => this.cache.get(k)!).filter((o) => o !== undefined);
  }

  private put(key: string, obj: KubeObject | undefined, old: KubeObject | undefined): void {
    for (const { fn, map } of this.indexes.values()) {
      if (old)
        for (const v of fn(old)) {
          const set = map.get(v);
          set?.delete(key);
          if (set?.size === 0) map.delete(v);
        }
      if (obj)
        for (const v of fn(obj)) {
          let set = map.get(v);
          if (!set) map.set(v, (set = new Set()));
          set.add(key);
        }
    }
    if (obj) this.cache.set(key, obj);
    else this.cache.delete(key);
  }

  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.cache.get(objectKey(namespace, name));
  }

  list(): IterableIterator<KubeObject> {
    return this.cache.values();
  }

  get size(): number {
    return this.cache.size;
  }

  hasSynced(): boolean {
    return this.isSynced;
  }

  resourceVersion(): string {
    return this.lastRv;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.stopSignal = new Promise((r) => (this.signalStop = () => r(undefined)));
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.signalStop();
    this.stopCurrent?.();
    this.wake?.();
    await this.running;
  }

  private async run(): Promise<void> {
    let failures = 0;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          this.stats.lists++;
          const l = await Promise.race([
            this.client.list(this.opts.type, this.opts.namespace, { labelSelector: this.opts.labelSelector }),
            this.stopSignal,
          ]);
          if (this.stopped || l === undefined) return;
          this.replaceAll(l.items);
          this.lastRv = l.resourceVersion;
          needList = false;
          if (!this.isSynced) {
            this.isSynced = true;
            this.syncedResolve();
          }
        }
        let expired = false;
        let watchError: unknown;
        this.stats.watches++;
        const ref: { handle?: WatchHandle } = {};
        let endNow = false;
        const pending = this.client.watch(
          this.opts.type,
          this.opts.namespace,
          {
            resourceVersion: this.lastRv,
            allowWatchBookmarks: true,
            labelSelector: this.opts.labelSelector,
            timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
          },
          (e) => {
            if (e.type === 'ERROR') {
              if (isStatusObject(e.object) && e.object.code === 410) expired = true;
              else watchError = new Error(`watch error: ${JSON.stringify(e.object)}`);
              endNow = true;
              ref.handle?.stop();
              return;
            }
            if (this.stopped) return;
            failures = 0;
            this.onEvent(e);
          },
        );
        // A watch whose response headers have not come yet must not hold up stop().
        const h = await Promise.race([pending, this.stopSignal]);
        if (h === undefined) {
          void pending.then((late) => late.stop()).catch(() => {});
          return;
        }
        ref.handle = h;
        this.stopCurrent = () => h.stop();
        if (this.stopped || endNow) h.stop();
        const ended = await h.done;
        this.stopCurrent = undefined;
        if (this.stopped) return;
        if (expired) {
          this.stats.relists++;
          needList = true;
          continue;
        }
        const err = watchError ?? ended;
        if (err) throw err;
        // A clean close (the server's timeout): resume straight away.
      } catch (err) {
        if (this.stopped) return;
        if (isApiError(err, 410)) {
          this.stats.relists++;
          needList = true;
        }
        failures++;
        this.stats.failures++;
        const ms = backoffDelay(failures, this.opts.backoff ?? { baseMs: 200, maxMs: 30_000, jitter: 0.2 });
        this.opts.onWatchFailure?.(err, ms);
        await this.sleep(ms);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private onEvent(e: WatchEvent): void {
    const obj = e.object as KubeObject;
    const rv = obj.metadata?.resourceVersion;
    if (e.type === 'BOOKMARK') {
      if (rv) this.lastRv = rv;
      return;
    }
    const key = keyOf(obj);
    if (e.type === 'DELETED') {
      const old = this.cache.get(key);
      this.put(key, undefined, old);
      if (rv) this.lastRv = rv;
      for (const h of this.handlers) h.onDelete?.(old ?? obj);
      return;
    }
    const next = this.opts.transform ? this.opts.transform(obj) : obj;
    const old = this.cache.get(key);
    this.put(key, next, old);
    if (rv) this.lastRv = rv;
    for (const h of this.handlers) {
      if (old) h.onUpdate?.(old, next);
      else h.onAdd?.(next);
    }
  }

  /** A (re)list: the cache becomes the list, and handlers hear about the difference. */
  private replaceAll(items: KubeObject[]): void {
    const seen = new Set<string>();
    for (const raw of items) {
      const obj = this.opts.transform ? this.opts.transform(raw) : raw;
      const key = keyOf(obj);
      seen.add(key);
      const old = this.cache.get(key);
      this.put(key, obj, old);
      for (const h of this.handlers) {
        if (!old) h.onAdd?.(obj);
        else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) h.onUpdate?.(old, obj);
      }
    }
    for (const [key, old] of this.cache) {
      if (seen.has(key)) continue;
      this.put(key, undefined, old);
      for (const h of this.handlers) h.onDelete?.(old);
    }
  }
}
