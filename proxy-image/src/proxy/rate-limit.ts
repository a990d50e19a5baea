// Per-host token buckets. Pure: the caller passes the time.
import { lookupPerHost } from '../net/domain.ts';

export interface RateLimitPolicy {
  enabled: boolean;
  requestsPerSecond: number;
  burst: number;
  perHost: Record<string, { requestsPerSecond: number; burst: number }>;
}

interface Bucket {
  tokens: number;
  last: number; // ms
  rate: number; // tokens per ms
  burst: number;
}

const MAX_BUCKETS = 10_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly policy: RateLimitPolicy) {}

  /** true when a request to `host` may go now (and takes its token). */
  take(host: string, now: number): boolean {
    if (!this.policy.enabled) return true;
    let b = this.buckets.get(host);
    if (b === undefined) {
      const p = lookupPerHost(this.policy.perHost, host) ?? this.policy;
      if (this.buckets.size >= MAX_BUCKETS) this.sweep(now);
      b = { tokens: p.burst, last: now, rate: p.requestsPerSecond / 1000, burst: p.burst };
      this.buckets.set(host, b);
    } else if (now > b.last) {
      b.tokens = Math.min(b.burst, b.tokens + (now - b.last) * b.rate);
      b.last = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Seconds until `host` has a token again (for Retry-After). */
  retryAfter(host: string): number {
    const b = this.buckets.get(host);
    if (!b || b.tokens >= 1) return 0;
    return Math.max(1, Math.ceil((1 - b.tokens) / b.rate / 1000));
  }

  /** Drops buckets that have refilled: they hold no state worth keeping. */
  private sweep(now: number): void {
    for (const [host, b] of this.buckets) {
      if (b.tokens + (now - b.last) * b.rate >= b.burst) this.buckets.delete(host);
    }
    // Still full of busy hosts: forget the oldest (a fresh bucket is the permissive side, bounded).
    if (this.buckets.size >= MAX_BUCKETS) {
      const first = this.buckets.keys().next().value;
      if (first !== undefined) this.buckets.delete(first);
    }
  }
}
