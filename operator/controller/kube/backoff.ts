// Exponential backoff with jitter, as pure arithmetic: the caller owns the timers.
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** 0..1: each delay is scaled by a random factor in [1 - jitter, 1]. */
  jitter?: number;
}

export function backoffDelay(failures: number, p: BackoffPolicy, random: () => number = Math.random): number {
  const exp = Math.min(p.maxMs, p.baseMs * 2 ** Math.max(0, failures - 1));
  const j = p.jitter ?? 0;
  return Math.round(exp * (1 - j * random()));
}

/** A per-key failure counter: the rate limiter of the work queue. */
export class KeyedBackoff {
  private failures = new Map<string, number>();
  constructor(private readonly policy: BackoffPolicy) {}

  /** Records one more failure of `key` and returns how long to wait before retrying it. */
  next(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    return backoffDelay(n, this.policy);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}
