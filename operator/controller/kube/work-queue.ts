// The controller's work queue, with client-go's guarantees: a key is queued at most once
// (adds while it waits are merged), never handed to two workers at once (an add while it is
// being processed queues it again once that run is done), and failures are retried with
// per-key exponential backoff until a run succeeds.
import { KeyedBackoff, type BackoffPolicy } from './backoff.ts';

export interface WorkResult {
  /** Run again after this long even without a change (e.g. waiting for a Service's IP). */
  requeueAfterMs?: number;
}

export class WorkQueue {
  private queue: string[] = [];
  private head = 0;
  private dirty = new Set<string>();
  private processing = new Set<string>();
  private delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private waiters: ((key: string | undefined) => void)[] = [];
  private stopped = false;
  private readonly backoff: KeyedBackoff;

  constructor(
    policy: BackoffPolicy = { baseMs: 50, maxMs: 5 * 60_000, jitter: 0.1 },
    private readonly onDepth?: (depth: number) => void,
  ) {
    this.backoff = new KeyedBackoff(policy);
  }

  add(key: string): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const w = this.waiters.shift();
    if (w) w(this.take(key));
    else {
      this.queue.push(key);
      this.depthChanged();
    }
  }

  /** Queues `key` after `ms`; an earlier pending time for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const cur = this.delayed.get(key);
    if (cur && cur.at <= at) return;
    if (cur) clearTimeout(cur.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.delayed.set(key, { at, timer });
  }

  /** A failed run: retry with this key's next backoff delay. Returns the delay. */
  addRateLimited(key: string): number {
    const ms = this.backoff.next(key);
    this.addAfter(key, ms);
    return ms;
  }

  /** A successful run: the key's backoff starts over. */
  forget(key: string): void {
    this.backoff.forget(key);
  }

  retries(key: string): number {
    return this.backoff.retries(key);
  }

  /** The next key to process, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.head < this.queue.length) {
      const key = this.queue[this.head++];
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      this.depthChanged();
      return Promise.resolve(this.take(key));
    }
    if (this.stopped) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.stopped) {
      const w = this.waiters.shift();
      if (w) w(this.take(key));
      else {
        this.queue.push(key);
        this.depthChanged();
      }
    }
  }

  /** Keys waiting (not counting those in processing or delayed). */
  len(): number {
    return this.queue.length - this.head;
  }

  /** No key is being processed right now. */
  idleNow(): boolean {
    return this.processing.size === 0;
  }

  /** Nothing waiting, nothing running, nothing scheduled. */
  idle(): boolean {
    return this.len() === 0 && this.processing.size === 0 && this.delayed.size === 0;
  }

  shutdown(): void {
    this.stopped = true;
    for (const d of this.delayed.values()) clearTimeout(d.timer);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
    this.queue = [];
    this.head = 0;
    this.dirty.clear();
    this.depthChanged();
  }

  private take(key: string): string {
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  private depthChanged() {
    this.onDepth?.(this.len());
  }
}

/**
 * Runs `workers` loops that each take a key, call `handle`, and requeue on failure with
 * backoff. Resolves when the queue is shut down and every loop has finished its last key.
 */
export async function runWorkers(
  queue: WorkQueue,
  workers: number,
  handle: (key: string) => Promise<WorkResult | void>,
  onError: (key: string, err: unknown, retryInMs: number) => void = () => {},
): Promise<void> {
  const loop = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const r = await handle(key);
        queue.forget(key);
        if (r?.requeueAfterMs !== undefined) queue.addAfter(key, r.requeueAfterMs);
      } catch (err) {
        onError(key, err, queue.addRateLimited(key));
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
}
