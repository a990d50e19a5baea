// Body size, entropy (bodies and URLs, with exempt types and signed-URL parameters), content-type
// mismatch and base64 blobs: each blocks or flags what it should, and its allowed twin passes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { buildInspectors, type InspectorSet } from '../../../proxy-image/src/inspect/index.ts';
import type { ProxyPolicyInput } from '../../../operator/api/policy.ts';
import { mixedJson } from '../../fixtures/mixed-json.ts';
import { request, testPolicy } from './policy-fixture.ts';

const open = { mode: 'blocklist' as const, rules: [], passthrough: [], ports: [443] };
const build = (inspectors: ProxyPolicyInput['inspectors'] = {}) =>
  buildInspectors(testPolicy({ egress: open, secrets: [], inspectors }), new Map());
const ct = (t: string): Array<[string, string]> => [['content-type', t]];
/** A random string over base64url's alphabet: ~6 bits per character. */
const randomToken = (n: number) => randomBytes(n).toString('base64url').slice(0, n);
const PNG = Buffer.from('89504e470d0a1a0a', 'hex');

describe('body size', () => {
  it('blocks over the global limit and per host (most specific domain wins); Content-Length counts', async () => {
    const set = await build({
      bodySize: { maxRequestBytes: 1000, perHost: { 'uploads.example.com': 5000, 'example.com': 10 } },
    });
    assert.equal(
      (await set.inspectRequest(request({ host: 'other.org', body: 'x '.repeat(500) }))).decision,
      'allow',
    );
    const big = await set.inspectRequest(request({ host: 'other.org', body: 'x '.repeat(500) + 'x' }));
    assert.match(
      big.blockedBy?.reason ?? '',
      /request body is 1,001 bytes; this cage allows at most 1,000 bytes to other\.org/,
    );
    assert.equal(
      (await set.inspectRequest(request({ host: 'a.uploads.example.com', body: 'x '.repeat(2000) })))
        .decision,
      'allow',
    );
    assert.equal(
      (await set.inspectRequest(request({ host: 'www.example.com', body: 'x '.repeat(6) }))).blockedBy
        ?.inspector,
      'bodySize',
    );
    const declared = await set.inspectRequest(
      request({ host: 'other.org', headers: [['content-length', '50000']], body: 'x' }),
    );
    assert.equal(declared.blockedBy?.inspector, 'bodySize');
  });
});

describe('entropy', () => {
  let set: InspectorSet;
  before(async () => {
    set = await build();
  });

  it('blocks a random (encrypted-looking) body and lets the same size of JSON through', async () => {
    const r = await set.inspectRequest(
      request({ headers: ct('application/octet-stream'), body: randomBytes(8192) }),
    );
    assert.equal(r.blockedBy?.inspector, 'entropy');
    assert.match(
      r.blockedBy?.reason ?? '',
      /8,192 bytes of application\/octet-stream\) has 7\.\d\d bits of entropy per byte, above the 7\.5 limit/,
    );
    assert.equal((await set.inspectRequest(request({ body: mixedJson(8192) }))).decision, 'allow');
  });

  it('a large body is judged on evenly spread samples: 1 MiB of random bytes is blocked, 1 MiB of JSON is not', async () => {
    const r = await set.inspectRequest(
      request({ headers: ct('application/octet-stream'), body: randomBytes(1 << 20) }),
    );
    assert.equal(r.blockedBy?.inspector, 'entropy');
    assert.equal((await set.inspectRequest(request({ body: mixedJson(1 << 20) }))).decision, 'allow');
  });

  it('small bodies (< minBodyBytes) and exempt types (images, archives) are not judged by entropy', async () => {
    assert.equal(
      (
        await set.inspectRequest(
          request({ headers: ct('application/octet-stream'), body: randomBytes(4000) }),
        )
      ).decision,
      'allow',
    );
    const png = Buffer.concat([PNG, randomBytes(8192)]);
    assert.equal(
      (await set.inspectRequest(request({ headers: ct('image/png'), body: png }))).decision,
      'allow',
    );
    const zip = Buffer.concat([Buffer.from('PK\x03\x04'), randomBytes(8192)]);
    assert.equal(
      (await set.inspectRequest(request({ headers: ct('application/zip'), body: zip }))).decision,
      'allow',
    );
    const custom = await build({ entropy: { exemptContentTypes: ['application/x-backup'] } });
    assert.equal(
      (await custom.inspectRequest(request({ headers: ct('application/x-backup'), body: randomBytes(8192) })))
        .decision,
      'allow',
    );
  });

  it('action flag: the same body is flagged, not blocked', async () => {
    const flagging = await build({ entropy: { action: 'flag' } });
    const r = await flagging.inspectRequest(
      request({ headers: ct('application/octet-stream'), body: randomBytes(8192) }),
    );
    assert.equal(r.decision, 'flag');
    assert.equal(r.flags[0].inspector, 'entropy');
  });

  it('a dense query value or path segment is blocked; hex ids and words are not', async () => {
    const token = randomToken(64);
    const q = await set.inspectRequest(request({ method: 'GET', path: `/track?d=${token}` }));
    assert.ok(!(q.blockedBy?.reason ?? '').includes(token.slice(4)), 'the reason masks the value');
    assert.match(
      q.blockedBy?.reason ?? '',
      /query parameter "d" holds 64 characters .* bits of entropy per character/,
    );
    const seg = await set.inspectRequest(request({ method: 'GET', path: `/u/${randomToken(80)}/x` }));
    assert.match(seg.blockedBy?.reason ?? '', /path segment/);
    for (const path of [
      `/commits/${'0123456789abcdef'.repeat(4)}`,
      '/search?q=the+quick+brown+fox+jumps+over+the+lazy+dog+again',
      `/v1/items/${crypto.randomUUID()}`,
    ])
      assert.equal((await set.inspectRequest(request({ method: 'GET', path }))).decision, 'allow', path);
  });

  it('signed-URL parameters pass on their providers’ hosts only (S3, GCS, CloudFront, Azure SAS)', async () => {
    const sig = randomToken(64);
    const cases: Array<[string, string]> = [
      [
        'bucket.s3.eu-west-1.amazonaws.com',
        `/k.tar?X-Amz-Signature=${sig}&X-Amz-Credential=${randomToken(40)}`,
      ],
      ['storage.googleapis.com', `/b/o?X-Goog-Signature=${sig}`],
      [
        'd111111abcdef8.cloudfront.net',
        `/v.mp4?Policy=${sig}&Signature=${randomToken(60)}&Key-Pair-Id=K2JCJMDEHXQW5F`,
      ],
      ['acct.blob.core.windows.net', `/c/b?sv=2022-11-02&sig=${sig}`],
    ];
    for (const [host, path] of cases) {
      assert.equal(
        (await set.inspectRequest(request({ host, method: 'GET', path }))).decision,
        'allow',
        host,
      );
      const elsewhere = await set.inspectRequest(
        request({ host: 'collector.example.net', method: 'GET', path }),
      );
      assert.equal(elsewhere.blockedBy?.inspector, 'entropy', `${path} to another host`);
    }
    const mine = await build({ entropy: { urlParamAllowlist: { 'api.example.com': ['token'] } } });
    assert.equal(
      (await mine.inspectRequest(request({ host: 'api.example.com', method: 'GET', path: `/?token=${sig}` })))
        .decision,
      'allow',
    );
  });
});

describe('content type', () => {
  let set: InspectorSet;
  before(async () => {
    set = await build({ entropy: { enabled: false } });
  });

  it('a JSON or form body that is really binary is blocked; real text passes', async () => {
    const bin = await set.inspectRequest(
      request({ headers: ct('application/json; charset=utf-8'), body: deflateSync(mixedJson(2000)) }),
    );
    assert.equal(bin.blockedBy?.inspector, 'contentType');
    assert.match(bin.blockedBy?.reason ?? '', /declared application\/json but is not valid UTF-8 text/);
    const ctl = await set.inspectRequest(
      request({ headers: ct('application/x-www-form-urlencoded'), body: 'a=1&b=\x00\x01\x02' }),
    );
    assert.match(ctl.blockedBy?.reason ?? '', /holds 3 control bytes/);
    assert.equal(
      (await set.inspectRequest(request({ headers: ct('text/plain'), body: 'Grüße, 世界! '.repeat(40) })))
        .decision,
      'allow',
    );
    assert.equal(
      (await set.inspectRequest(request({ headers: ct('application/json'), body: mixedJson(5000) })))
        .decision,
      'allow',
    );
  });

  it('a media or archive type without its signature is blocked (the entropy exemption is not free)', async () => {
    const fake = await set.inspectRequest(request({ headers: ct('image/png'), body: randomBytes(100) }));
    assert.match(fake.blockedBy?.reason ?? '', /declared image\/png but does not start with a PNG signature/);
    const gz = await set.inspectRequest(
      request({ headers: ct('application/gzip'), body: Buffer.from('plain text') }),
    );
    assert.equal(gz.blockedBy?.inspector, 'contentType');
    assert.equal(
      (
        await set.inspectRequest(
          request({ headers: ct('image/png'), body: Buffer.concat([PNG, randomBytes(100)]) }),
        )
      ).decision,
      'allow',
    );
  });
});

describe('base64 blobs', () => {
  it('flags a long base64 run in a text body or text frame; short runs and exempt types pass', async () => {
    const set = await build({ entropy: { enabled: false } });
    const blob = randomBytes(3000).toString('base64');
    const r = await set.inspectRequest(request({ body: JSON.stringify({ file: blob }) }));
    assert.equal(r.decision, 'flag');
    assert.match(r.flags[0].reason, /holds a 4,000-character base64 run at offset 9 \(limit 1,024\)/);
    const frame = await set.inspectFrame({
      kind: 'websocket',
      direction: 'outbound',
      host: 'x.org',
      path: '/',
      binary: false,
      data: Buffer.from(blob),
    });
    assert.equal(frame.flags[0]?.inspector, 'base64');
    assert.equal(
      (
        await set.inspectRequest(
          request({ body: JSON.stringify({ sig: randomBytes(600).toString('base64') }) }),
        )
      ).decision,
      'allow',
    );
    assert.equal(
      (await set.inspectRequest(request({ headers: ct('image/svg+xml'), body: blob }))).decision,
      'allow',
    );
    const blocking = await build({
      entropy: { enabled: false },
      base64: { action: 'block', minLength: 100 },
    });
    const b = await blocking.inspectRequest(
      request({ body: JSON.stringify({ sig: randomBytes(600).toString('base64') }) }),
    );
    assert.equal(b.blockedBy?.inspector, 'base64');
  });
});

describe('compressed request bodies (Content-Encoding)', () => {
  it('are inspected decompressed: a key inside gzip or br is found, a clean one passes', async () => {
    const { gzipSync, brotliCompressSync } = await import('node:zlib');
    const set = await build();
    const key = 'AKIA' + 'QWERTYUIOP234567';
    for (const [coding, pack] of [
      ['gzip', gzipSync],
      ['br', brotliCompressSync],
    ] as const) {
      const headers: Array<[string, string]> = [
        ['content-type', 'application/json'],
        ['content-encoding', coding],
      ];
      const bad = await set.inspectRequest(request({ headers, body: pack(Buffer.from(`{"k":"${key}"}`)) }));
      assert.match(bad.blockedBy?.reason ?? '', /\[aws-access-key-id\]/, coding);
      assert.equal(
        (await set.inspectRequest(request({ headers, body: pack(mixedJson(20_000)) }))).decision,
        'allow',
        coding,
      );
    }
  });

  it('a body that does not decode, a bomb, or an unknown coding is blocked', async () => {
    const { gzipSync } = await import('node:zlib');
    const set = await build({ bodySize: { maxRequestBytes: 1_000_000 } });
    const cases: Array<[string, Buffer, RegExp]> = [
      ['gzip', Buffer.from('not gzip at all'), /declares Content-Encoding "gzip" but does not decode/],
      ['gzip', gzipSync(Buffer.alloc(5_000_000)), /decompresses to more than 1,000,000 bytes/],
      ['zstd', Buffer.from('whatever'), /"zstd" cannot be inspected/],
    ];
    for (const [coding, body, why] of cases) {
      const r = await set.inspectRequest(request({ headers: [['content-encoding', coding]], body }));
      assert.equal(r.blockedBy?.inspector, 'contentType', coding);
      assert.match(r.blockedBy?.reason ?? '', why);
    }
  });
});
