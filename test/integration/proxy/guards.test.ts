// The proxy's own guards: TLS passthrough, per-host rate limits, the SSRF guard on the address
// actually connected to, and the request body limit. Each refusal has an allowed twin that passes.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { curl, jsonBody, sharedUpstream } from './harness.ts';

describe('proxy guards: passthrough, rate limit, SSRF, body size', function () {
  this.timeout(30000);
  const shared = sharedUpstream();
  const rig = shared.rig;

  it('explicit mode: a passthrough domain is tunnelled undecrypted; a blocked one is refused on CONNECT', async () => {
    const r = await rig({
      egress: {
        mode: 'allowlist',
        rules: [{ domain: 'api.test' }, { domain: 'pass.test' }],
        passthrough: ['pass.test', 'blocked.test'],
        ports: [shared.up.httpPort, shared.up.httpsPort],
      },
    });
    const upstreamCa = join(r.dir, 'up-ca.crt');
    writeFileSync(upstreamCa, shared.pki.caPem);
    const through = await curl([
      '-x',
      r.proxyUrl,
      '--cacert',
      upstreamCa,
      `https://pass.test:${shared.up.httpsPort}/1k`,
    ]);
    assert.equal(through.status, 200, through.stderr);
    assert.equal(through.body.length, 1024);
    // Only the upstream's CA verifies it: the proxy presented nothing of its own.
    const withCageCa = await curl([
      '-x',
      r.proxyUrl,
      '--cacert',
      r.caPath,
      `https://pass.test:${shared.up.httpsPort}/1k`,
    ]);
    assert.equal(withCageCa.status, 0);
    assert.match(withCageCa.stderr, /certificate/i);
    const blocked = await curl([
      '-x',
      r.proxyUrl,
      '-v',
      '--cacert',
      upstreamCa,
      `https://blocked.test:${shared.up.httpsPort}/`,
    ]);
    assert.notEqual(blocked.code, 0);
    assert.match(blocked.stderr, /CONNECT tunnel failed, response 403/);
    const lines = r.auditLines().filter((l) => l.kind === 'tunnel');
    assert.ok(lines.some((l) => l.host === 'pass.test' && l.decision === 'allow' && l.passthrough === true));
    assert.ok(lines.some((l) => l.host === 'blocked.test' && l.decision === 'block'));
  });

  it('a passthrough tunnel whose SNI is not the CONNECT host is cut', async () => {
    const r = await rig({
      egress: {
        mode: 'allowlist',
        rules: [{ domain: 'pass.test' }, { domain: 'other.test' }],
        passthrough: ['pass.test'],
        ports: [shared.up.httpsPort],
      },
    });
    const res = await curl([
      '-x',
      r.proxyUrl,
      '-k',
      '--connect-to',
      `other.test:${shared.up.httpsPort}:pass.test:${shared.up.httpsPort}`,
      `https://other.test:${shared.up.httpsPort}/1k`,
    ]);
    // curl's --connect-to makes it CONNECT to pass.test while its TLS SNI says other.test.
    assert.equal(res.status, 0);
    const line = r.auditLines().find((l) => l.inspector === 'sni');
    assert.match(String(line?.reason), /does not match the CONNECT target/);
  });

  it('rate limit: past the burst a host gets 429 in the block JSON shape; another host is unaffected', async () => {
    const r = await rig({ rateLimit: { enabled: true, requestsPerSecond: 0.01, burst: 2, perHost: {} } });
    const url = `http://api.test:${shared.up.httpPort}/1k`;
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push((await curl(['-x', r.proxyUrl, url])).status);
    assert.deepEqual(codes, [200, 200, 429]);
    const limited = await curl(['-x', r.proxyUrl, url]);
    assert.equal(limited.status, 429);
    const b = jsonBody(limited.body);
    assert.deepEqual([b.error, b.inspector, b.host], ['blocked', 'rate-limit', 'api.test']);
    assert.match(limited.headers, /retry-after: \d+/i);
    const other = await curl(['-x', r.proxyUrl, `http://other.test:${shared.up.httpPort}/1k`]);
    assert.equal(other.status, 200);
  });

  it('SSRF: an allowed name resolving to the metadata address is refused; 127.0.0.1 only when allowCidrs lists it', async () => {
    const strict = await rig({ ssrf: { allowCidrs: [] } });
    const meta = await curl(['-x', strict.proxyUrl, `http://meta.test:${shared.up.httpPort}/`]);
    assert.equal(meta.status, 403);
    assert.equal(jsonBody(meta.body).inspector, 'ssrf');
    assert.match(String(jsonBody(meta.body).reason), /169\.254\.169\.254 is a link-local address/);
    // api.test resolves to 127.0.0.1: refused without the allowance, over HTTP and HTTPS.
    for (const url of [
      `http://api.test:${shared.up.httpPort}/1k`,
      `https://api.test:${shared.up.httpsPort}/1k`,
    ]) {
      const res = await curl(['-x', strict.proxyUrl, '--cacert', strict.caPath, url]);
      assert.equal(res.status, 403, url);
      assert.match(String(jsonBody(res.body).reason), /127\.0\.0\.1 is a loopback address/);
    }
    // IP literals and localhost are checked too (node skips the resolver for literals).
    const egress = {
      mode: 'blocklist' as const,
      rules: [],
      passthrough: [],
      ports: [shared.up.httpPort, shared.up.httpsPort],
    };
    const open = await rig({ ssrf: { allowCidrs: [] }, egress });
    for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
      const res = await curl(['-x', open.proxyUrl, `http://${host}:${shared.up.httpPort}/1k`]);
      assert.equal(res.status, 403, host);
      assert.equal(jsonBody(res.body).inspector, 'ssrf', host);
    }
    // The twin: the same requests pass once 127.0.0.0/8 is allowed (the loopback upstream is real).
    const allowed = await rig({ ssrf: { allowCidrs: ['127.0.0.0/8'] }, egress });
    for (const host of ['127.0.0.1', 'api.test']) {
      const res = await curl(['-x', allowed.proxyUrl, `http://${host}:${shared.up.httpPort}/1k`]);
      assert.equal(res.status, 200, host);
    }
    const stillMeta = await curl(['-x', allowed.proxyUrl, `http://meta.test:${shared.up.httpPort}/`]);
    assert.equal(stillMeta.status, 403, '127.0.0.0/8 does not open 169.254.0.0/16');
  });

  it('upstream TLS is verified: an upstream whose CA is not trusted gets a 502, never a silent pass', async () => {
    const untrusting = await rig({ upstream: { connectTimeoutMs: 5000 } });
    const r = await curl([
      '-x',
      untrusting.proxyUrl,
      '--cacert',
      untrusting.caPath,
      `https://api.test:${shared.up.httpsPort}/1k`,
    ]);
    assert.equal(r.status, 502);
    assert.equal(jsonBody(r.body).error, 'upstream-error');
    assert.match(String(jsonBody(r.body).reason), /upstream TLS failed .*not trusted/);
    const trusting = await rig();
    const ok = await curl([
      '-x',
      trusting.proxyUrl,
      '--cacert',
      trusting.caPath,
      `https://api.test:${shared.up.httpsPort}/1k`,
    ]);
    assert.equal(ok.status, 200);
  });

  it('a request body over the limit is blocked (declared or chunked); one under it passes', async () => {
    const r = await rig({
      inspectors: { bodySize: { maxRequestBytes: 1000, perHost: { 'other.test': 5000 } } },
    });
    const url = `http://api.test:${shared.up.httpPort}/echo`;
    const big = await curl(['-x', r.proxyUrl, '--data-binary', 'z'.repeat(1001), url]);
    assert.equal(big.status, 403);
    assert.equal(jsonBody(big.body).inspector, 'bodySize');
    const chunked = await curl([
      '-x',
      r.proxyUrl,
      '-H',
      'Transfer-Encoding: chunked',
      '--data-binary',
      'z'.repeat(4000),
      url,
    ]);
    assert.equal(chunked.status, 403);
    const small = await curl(['-x', r.proxyUrl, '--data-binary', 'z'.repeat(1000), url]);
    assert.equal(small.status, 200);
    const perHost = await curl([
      '-x',
      r.proxyUrl,
      '--data-binary',
      'z'.repeat(4000),
      `http://other.test:${shared.up.httpPort}/echo`,
    ]);
    assert.equal(perHost.status, 200);
  });
});
