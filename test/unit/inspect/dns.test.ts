// DNS tunnelling: labels that carry data, and too many different names under one domain in a window.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { buildInspectors, type InspectorSet } from '../../../proxy-image/src/inspect/index.ts';
import { baseDomain } from '../../../proxy-image/src/inspect/inspectors/dns.ts';
import { testPolicy } from './policy-fixture.ts';

const T0 = Date.parse('2026-06-01T00:00:00Z');
const fixedBytes = (seed: string, n: number) => createHash('sha256').update(seed).digest().subarray(0, n);
const q = (name: string) => ({ kind: 'dns' as const, name, qtype: 'A' });
const base32 = (b: Buffer) => {
  const A = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let v = 0;
  let out = '';
  for (const x of b) {
    v = (v << 8) | x;
    bits += 8;
    while (bits >= 5) out += A[(v >>> (bits -= 5)) & 31];
  }
  return out;
};

describe('DNS inspector', () => {
  let set: InspectorSet;
  beforeEach(async () => {
    set = await buildInspectors(
      testPolicy({
        egress: { mode: 'blocklist', rules: [], passthrough: [], ports: [443] },
        secrets: [],
        inspectors: { dns: { maxUniqueSubdomains: 5, windowSeconds: 60 } },
      }),
      new Map(),
    );
  });

  it('ordinary names pass', () => {
    for (const name of [
      'github.com',
      'api.github.com',
      'objects.githubusercontent.com',
      'www.bbc.co.uk',
      'd3c4b5a6e7f8.cloudfront.net',
      'us-east-1.console.aws.amazon.com',
      'registry-1.docker.io',
    ])
      assert.equal(set.inspectDns(q(name), T0).decision, 'allow', name);
  });

  it('blocks long, hex, base32 and dense labels', () => {
    const cases: Array<[string, RegExp]> = [
      [`${'a'.repeat(45)}.evil.com`, /45-character label \(limit 40\)/],
      // Fixed bytes, not random ones: about one random base32 label in 20 has fewer than three
      // digits and is (rightly) not called a base32 run, which made this test flaky.
      [`${fixedBytes('hex', 16).toString('hex')}.evil.com`, /is a hex run/],
      [`${base32(fixedBytes('base32', 20))}.evil.com`, /is a base32 run/],
      ['q7zk2m9x4vbn8p3wr6ty1ufj5hd0gs.evil.com', /bits of entropy per character, above the 4 limit/],
    ];
    for (const [name, why] of cases) {
      const r = set.inspectDns(q(name), T0);
      assert.equal(r.blockedBy?.inspector, 'dns', name);
      assert.match(r.blockedBy?.reason ?? '', why);
      assert.ok(!(r.blockedBy?.reason ?? '').includes(name.split('.')[0]), 'the label is masked');
    }
  });

  it('counts unique subdomains per domain in a window; repeats and other domains do not count; the window slides', () => {
    for (let i = 0; i < 5; i++)
      assert.equal(set.inspectDns(q(`host${i}.example.org`), T0 + i).decision, 'allow');
    assert.equal(set.inspectDns(q('host0.example.org'), T0 + 10).decision, 'allow', 'a repeat is not new');
    assert.equal(set.inspectDns(q('www.other.org'), T0 + 10).decision, 'allow');
    const sixth = set.inspectDns(q('host5.example.org'), T0 + 20);
    assert.match(
      sixth.blockedBy?.reason ?? '',
      /more than 5 different names under example\.org were queried within 60 s/,
    );
    // 61 s after the first five, they have left the window.
    assert.equal(set.inspectDns(q('host6.example.org'), T0 + 61_000).decision, 'allow');
  });

  it('the registrable domain is approximated without the public suffix list', () => {
    assert.equal(baseDomain('a.b.example.com'), 'example.com');
    assert.equal(baseDomain('x.y.bbc.co.uk'), 'bbc.co.uk');
    assert.equal(baseDomain('example.com'), 'example.com');
  });
});
