// The explicit (forward) proxy with real clients: curl and undici's fetch, HTTP and intercepted
// HTTPS trusting the cage CA, against loopback upstreams.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { fetch, ProxyAgent } from 'undici';
import {
  AWS_KEY,
  BODY_64K,
  connectTunnel,
  curl,
  jsonBody,
  patternBody,
  PLACEHOLDER,
  REAL_KEY,
  startRig,
  type Rig,
} from './harness.ts';

describe('proxy, explicit mode: curl and fetch through the forward proxy', function () {
  this.timeout(30000);
  let rig: Rig;
  let http: (path: string, host?: string) => string;
  let https: (path: string, host?: string) => string;
  let agent: ProxyAgent;

  before(async () => {
    rig = await startRig();
    http = (p, host = 'api.test') => `http://${host}:${rig.up.httpPort}${p}`;
    https = (p, host = 'api.test') => `https://${host}:${rig.up.httpsPort}${p}`;
    agent = new ProxyAgent({ uri: rig.proxyUrl, requestTls: { ca: readFileSync(rig.caPath, 'utf8') } });
  });
  after(async () => {
    await agent?.close();
    await rig?.close();
  });

  it('curl: an allowed host over HTTP and HTTPS passes with the body intact both ways', async () => {
    const payload = 'x'.repeat(3000) + '\u00e9';
    for (const url of [http('/echo'), https('/echo')]) {
      const r = await curl(['-x', rig.proxyUrl, '--cacert', rig.caPath, '--data-binary', payload, url]);
      assert.equal(r.status, 200, r.stderr);
      assert.equal(jsonBody(r.body).body, payload);
      assert.equal(jsonBody(r.body).method, 'POST');
    }
    const big = await curl(['-x', rig.proxyUrl, '--cacert', rig.caPath, https('/64k')]);
    assert.equal(big.status, 200);
    assert.equal(big.body, BODY_64K.toString());
  });

  it('fetch (undici ProxyAgent): HTTP and HTTPS with the cage CA trusted', async () => {
    for (const url of [http('/echo?q=1'), https('/echo?q=1')]) {
      const res = await fetch(url, { method: 'PUT', body: 'hello fetch', dispatcher: agent });
      assert.equal(res.status, 200);
      const echo = (await res.json()) as { body: string; path: string; method: string };
      assert.deepEqual([echo.method, echo.path, echo.body], ['PUT', '/echo?q=1', 'hello fetch']);
    }
  });

  it('the certificate the agent sees is minted by the cage CA for the host it asked for', async () => {
    const raw = await connectTunnel(rig.proxy.ports.proxy, `api.test:${rig.up.httpsPort}`);
    const ca = readFileSync(rig.caPath, 'utf8');
    const s = tls.connect({ socket: raw, servername: 'api.test', ca });
    await new Promise<void>((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
    const cert = s.getPeerCertificate();
    assert.equal(s.authorized, true);
    assert.match(cert.subjectaltname ?? '', /DNS:api\.test/);
    assert.match(String(cert.issuer.CN), /agentcage test CA/);
    s.destroy();
  });

  it('a domain off the allowlist gets a JSON 403 naming the inspector, the reason and the host', async () => {
    for (const url of [http('/x', 'blocked.test'), https('/x', 'blocked.test')]) {
      const r = await curl(['-x', rig.proxyUrl, '--cacert', rig.caPath, url]);
      assert.equal(r.status, 403, r.stderr);
      const b = jsonBody(r.body);
      assert.equal(b.error, 'blocked');
      assert.equal(b.inspector, 'domain');
      assert.equal(b.host, 'blocked.test');
      assert.match(String(b.reason), /allowlist/);
    }
    const res = await fetch(https('/x', 'blocked.test'), { dispatcher: agent });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { inspector: string }).inspector, 'domain');
    assert.equal(rig.up.seen.filter((s) => s.host.startsWith('blocked.test')).length, 0);
  });

  it('inside a CONNECT tunnel, a TLS SNI or Host other than the CONNECT target is blocked', async () => {
    // curl CONNECTs to api.test (--connect-to) while its SNI and Host say other.test: domain fronting.
    const fronted = await curl([
      '-x',
      rig.proxyUrl,
      '--cacert',
      rig.caPath,
      '--connect-to',
      `other.test:${rig.up.httpsPort}:api.test:${rig.up.httpsPort}`,
      https('/echo', 'other.test'),
    ]);
    assert.equal(fronted.status, 403);
    assert.equal(jsonBody(fronted.body).inspector, 'routing');
    assert.match(String(jsonBody(fronted.body).reason), /does not match the CONNECT target "api\.test"/);
  });

  it('an AWS key in a body, a header or a query string is blocked before it leaves', async () => {
    const before = rig.up.seen.length;
    const cases: string[][] = [
      ['--data-binary', `aws_access_key_id=${AWS_KEY}`, https('/echo')],
      ['-H', `X-Creds: ${AWS_KEY}`, https('/echo')],
      [http(`/echo?key=${AWS_KEY}`)],
      [https(`/echo?key=${AWS_KEY}`, 'other.test')],
    ];
    for (const args of cases) {
      const r = await curl(['-x', rig.proxyUrl, '--cacert', rig.caPath, ...args]);
      assert.equal(r.status, 403, `${args.join(' ')}: ${r.body}`);
      assert.equal(jsonBody(r.body).inspector, 'secrets');
    }
    assert.equal(rig.up.seen.length, before, 'nothing reached the upstream');
    const twin = await curl([
      '-x',
      rig.proxyUrl,
      '--cacert',
      rig.caPath,
      '--data-binary',
      'nothing secret',
      https('/echo'),
    ]);
    assert.equal(twin.status, 200);
  });

  it('a placeholder is swapped for the real value towards its own host only; the response is redacted', async () => {
    const auth = ['-H', `Authorization: Bearer ${PLACEHOLDER}`];
    const own = await curl([
      '-x',
      rig.proxyUrl,
      '--cacert',
      rig.caPath,
      ...auth,
      https(`/echo?k=${PLACEHOLDER}`),
    ]);
    assert.equal(own.status, 200);
    const sawOwn = rig.up.seen.at(-1)!;
    assert.ok(sawOwn.headers.includes(`Bearer ${REAL_KEY}`), 'api.test got the real value in the header');
    assert.equal(sawOwn.path, `/echo?k=${REAL_KEY}`, 'and in the URL');
    // The upstream echoed the real value back (body and a header): the agent sees only placeholders.
    assert.ok(!own.body.includes(REAL_KEY) && !own.headers.includes(REAL_KEY));
    assert.ok(own.body.includes(`Bearer ${PLACEHOLDER}`));
    assert.match(own.headers, new RegExp(`x-echo-auth: Bearer ${PLACEHOLDER}`, 'i'));

    const other = await curl([
      '-x',
      rig.proxyUrl,
      '--cacert',
      rig.caPath,
      ...auth,
      https('/echo', 'other.test'),
    ]);
    assert.equal(other.status, 200);
    const sawOther = rig.up.seen.at(-1)!;
    assert.ok(sawOther.headers.includes(`Bearer ${PLACEHOLDER}`), 'other.test got the placeholder');
    assert.ok(!JSON.stringify(sawOther).includes(REAL_KEY), 'other.test never saw the real value');

    const audit = rig.auditLines();
    const ownLine = audit.find((l) => l.host === 'api.test' && String(l.path).startsWith('/echo?k='));
    assert.deepEqual(ownLine?.injected, ['API_KEY']);
    assert.deepEqual(ownLine?.redacted, ['API_KEY']);
    const otherLine = audit.filter((l) => l.host === 'other.test').at(-1);
    assert.equal(otherLine?.decision, 'flag');
    assert.deepEqual(otherLine?.injected, []);
  });

  it('redacts a real value split across response chunks and inside a gzip body', async () => {
    const stream = await curl(['-x', rig.proxyUrl, '--cacert', rig.caPath, https('/stream')]);
    assert.equal(stream.body, `start:${PLACEHOLDER}:end`);
    const gz = await curl([
      '-x',
      rig.proxyUrl,
      '--cacert',
      rig.caPath,
      '--compressed',
      '-H',
      `Authorization: Bearer ${PLACEHOLDER}`,
      https('/gzip'),
    ]);
    assert.equal(gz.status, 200);
    assert.ok(!gz.body.includes(REAL_KEY));
    assert.ok(gz.body.includes(PLACEHOLDER));
  });

  it('streams a large chunked response through the redactor with the body intact', async () => {
    const r = await curl(['-x', rig.proxyUrl, '--cacert', rig.caPath, https('/big')]);
    assert.equal(r.status, 200);
    const expected = Buffer.alloc(3 * 1024 * 1024, 'x');
    expected.write(REAL_KEY, 2 * 1024 * 1024 - 7);
    const want = expected.toString().replace(REAL_KEY, PLACEHOLDER);
    assert.equal(r.body.length, want.length);
    assert.ok(r.body === want, 'byte for byte, the real value replaced by its placeholder');
  });

  it('a small response keeps an exact Content-Length; a large one streams chunked, both redacted', async () => {
    for (const size of [2000, 64 * 1024]) {
      const r = await curl(['-x', rig.proxyUrl, '--cacert', rig.caPath, https(`/sized/${size}`)]);
      assert.equal(r.status, 200);
      const expected = Buffer.alloc(size, 'y');
      expected.write(REAL_KEY, size > 16 * 1024 + 10 ? 16 * 1024 - 9 : 10);
      const want = expected.toString().replace(REAL_KEY, PLACEHOLDER);
      assert.ok(r.body === want, `${size} bytes: the body, byte for byte, with the placeholder`);
      if (size <= 16 * 1024)
        assert.match(r.headers, new RegExp(`content-length: ${want.length}\\r?\\n`, 'i'));
      else {
        assert.match(r.headers, /transfer-encoding: chunked/i);
        assert.doesNotMatch(r.headers, /content-length/i);
      }
    }
  });

  it('keeps concurrent Content-Length bodies intact and apart behind slow agents, HTTP and HTTPS', async () => {
    // Upstream bytes are read into one shared buffer and copied into reused buffers on their
    // way to each agent; agents reading slowly keep those copies queued. A buffer reused too
    // early, or bytes read from the shared buffer too late, would show here as a wrong line.
    const seeds = ['a', 'b', 'c', 'd', 'e', 'f'];
    const lines = 40_000; // 440 KB each
    for (const url of [http, https]) {
      const rs = await Promise.all(
        seeds.map((s) =>
          curl([
            '-x',
            rig.proxyUrl,
            '--cacert',
            rig.caPath,
            '--limit-rate',
            '2M',
            url(`/pattern/${s}/${lines}`),
          ]),
        ),
      );
      rs.forEach((r, i) => {
        assert.equal(r.status, 200, r.stderr);
        const want = patternBody(seeds[i], lines).toString('latin1').replace(REAL_KEY, PLACEHOLDER);
        assert.equal(r.body.length, want.length, `${url('')} ${seeds[i]}: length`);
        assert.ok(r.body === want, `${url('')} ${seeds[i]}: byte for byte, the real value redacted`);
      });
    }
  });

  it('the audit log never holds a real secret value', () => {
    const text = readFileSync(rig.auditPath, 'utf8');
    assert.ok(text.length > 0);
    assert.ok(!text.includes(REAL_KEY));
  });
});
