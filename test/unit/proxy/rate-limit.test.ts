import assert from 'node:assert/strict';
import { RateLimiter } from '../../../proxy-image/src/proxy/rate-limit.ts';

describe('per-host token buckets', () => {
  const policy = {
    enabled: true,
    requestsPerSecond: 2,
    burst: 3,
    perHost: { 'slow.test': { requestsPerSecond: 1, burst: 1 } },
  };

  it('allows the burst, then refills at the rate', () => {
    const r = new RateLimiter(policy);
    const t = 1_000_000;
    assert.deepEqual(
      [1, 2, 3, 4].map(() => r.take('a.test', t)),
      [true, true, true, false],
    );
    assert.ok(r.retryAfter('a.test') >= 1);
    assert.equal(r.take('a.test', t + 499), false);
    assert.equal(r.take('a.test', t + 500), true);
  });

  it('keeps hosts apart and applies per-host limits to subdomains', () => {
    const r = new RateLimiter(policy);
    assert.equal(r.take('api.slow.test', 0), true);
    assert.equal(r.take('api.slow.test', 0), false);
    assert.equal(r.take('other.test', 0), true);
  });

  it('does nothing when disabled', () => {
    const r = new RateLimiter({ ...policy, enabled: false });
    for (let i = 0; i < 100; i++) assert.equal(r.take('a.test', 0), true);
  });
});
