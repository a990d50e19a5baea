// Transparent mode: traffic arrives as if redirected from ports 80/443 (curl --connect-to plays
// the NAT rule); the proxy routes by Host and SNI and blocks when they disagree or are missing.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, buildConnector, fetch } from 'undici';
import {
  AWS_KEY,
  curl,
  jsonBody,
  mintTestPki,
  PLACEHOLDER,
  rawExchange,
  REAL_KEY,
  startRig,
  startUpstream,
  type Rig,
  type TestPki,
  type Upstream,
  UPSTREAM_NAMES,
} from './harness.ts';

describe('proxy, transparent mode: routing by Host and SNI', function () {
  this.timeout(30000);
  let pki: TestPki;
  let up: Upstream;
  let rig: Rig;
  let tHttp: number;
  let tHttps: number;
  let ca: string;
  let upstreamCaFile: string;
  const viaHttp = (host: string) => ['--connect-to', `${host}:${up.httpPort}:127.0.0.1:${tHttp}`];
  const viaHttps = (host: string, port = up.httpsPort) => [
    '--connect-to',
    `${host}:${port}:127.0.0.1:${tHttps}`,
  ];

  before(async () => {
    pki = mintTestPki(UPSTREAM_NAMES);
    up = await startUpstream(pki);
    rig = await startRig(
      { mode: 'transparent' },
      {
        transparentHttp: { host: '127.0.0.1', port: 0 },
        transparentHttps: { host: '127.0.0.1', port: 0 },
        // Where the NAT rule would have sent port-443 passthrough traffic: the test upstream.
        transparentDefaultPorts: { http: up.httpPort, https: up.httpsPort },
      },
      { pki, up },
    );
    tHttp = rig.proxy.ports.transparentHttp!;
    tHttps = rig.proxy.ports.transparentHttps!;
    ca = readFileSync(rig.caPath, 'utf8');
    upstreamCaFile = join(rig.dir, 'upstream-ca-for-client.crt');
    writeFileSync(upstreamCaFile, pki.caPem);
  });
  after(async () => {
    await rig?.close();
    await up?.close();
  });

  it('curl: HTTP and intercepted HTTPS to an allowed host pass with the body intact', async () => {
    const h = await curl([
      ...viaHttp('api.test'),
      '--data-binary',
      'plain body',
      `http://api.test:${up.httpPort}/echo`,
    ]);
    assert.equal(h.status, 200, h.stderr);
    assert.equal(jsonBody(h.body).body, 'plain body');
    const s = await curl([
      ...viaHttps('api.test'),
      '--cacert',
      rig.caPath,
      '--data-binary',
      'tls body',
      `https://api.test:${up.httpsPort}/echo`,
    ]);
    assert.equal(s.status, 200, s.stderr);
    assert.equal(jsonBody(s.body).body, 'tls body');
    const line = rig.auditLines().at(-1)!;
    assert.equal(line.listener, 'transparent');
    assert.equal(line.scheme, 'https');
  });

  it('fetch (undici, connecting to the transparent ports) with the cage CA trusted', async () => {
    const connector = buildConnector({ ca });
    const dispatcher = new Agent({
      connect: (opts, cb) =>
        connector(
          {
            ...opts,
            hostname: '127.0.0.1',
            port: String(opts.protocol === 'https:' ? tHttps : tHttp),
            servername: opts.hostname,
          },
          cb,
        ),
    });
    try {
      for (const url of [`http://api.test:${up.httpPort}/echo`, `https://api.test:${up.httpsPort}/echo`]) {
        const res = await fetch(url, { method: 'POST', body: 'via fetch', dispatcher });
        assert.equal(res.status, 200);
        assert.equal(((await res.json()) as { body: string }).body, 'via fetch');
      }
      const blocked = await fetch(`https://blocked.test:${up.httpsPort}/x`, { dispatcher });
      assert.equal(blocked.status, 403);
      assert.equal(((await blocked.json()) as { inspector: string }).inspector, 'domain');
    } finally {
      await dispatcher.close();
    }
  });

  it('a blocked domain gets the JSON 403 over HTTP and HTTPS', async () => {
    const h = await curl([...viaHttp('blocked.test'), `http://blocked.test:${up.httpPort}/`]);
    const s = await curl([
      ...viaHttps('blocked.test'),
      '--cacert',
      rig.caPath,
      `https://blocked.test:${up.httpsPort}/`,
    ]);
    for (const r of [h, s]) {
      assert.equal(r.status, 403);
      assert.deepEqual(
        [jsonBody(r.body).error, jsonBody(r.body).inspector, jsonBody(r.body).host],
        ['blocked', 'domain', 'blocked.test'],
      );
    }
  });

  it('SNI and Host that disagree are blocked (no domain fronting); the agreeing twin passes', async () => {
    const fronted = await curl([
      ...viaHttps('api.test'),
      '--cacert',
      rig.caPath,
      '-H',
      `Host: other.test:${up.httpsPort}`,
      `https://api.test:${up.httpsPort}/echo`,
    ]);
    assert.equal(fronted.status, 403);
    assert.equal(jsonBody(fronted.body).inspector, 'routing');
    assert.match(String(jsonBody(fronted.body).reason), /does not match the TLS SNI/);
    const twin = await curl([
      ...viaHttps('other.test'),
      '--cacert',
      rig.caPath,
      `https://other.test:${up.httpsPort}/echo`,
    ]);
    assert.equal(twin.status, 200);
  });

  it('no SNI, or no Host, is blocked: the destination is unclear', async () => {
    // curl sends no SNI to an IP address.
    const noSni = await curl(['--cacert', rig.caPath, `https://127.0.0.1:${tHttps}/`]);
    assert.equal(noSni.status, 0);
    assert.notEqual(noSni.code, 0);
    const noHost = await rawExchange(tHttp, 'GET / HTTP/1.0\r\n\r\n');
    assert.match(noHost, /^HTTP\/1\.1 403/);
    assert.match(noHost, /no Host header/);
    const lines = rig.auditLines();
    assert.ok(lines.some((l) => l.kind === 'tls' && /without SNI/.test(String(l.reason))));
  });

  it('an AWS key is blocked; a placeholder is injected for its own host and redacted on the way back', async () => {
    const aws = await curl([
      ...viaHttps('api.test'),
      '--cacert',
      rig.caPath,
      '-H',
      `X-K: ${AWS_KEY}`,
      `https://api.test:${up.httpsPort}/echo`,
    ]);
    assert.equal(aws.status, 403);
    assert.equal(jsonBody(aws.body).inspector, 'secrets');
    const ok = await curl([
      ...viaHttp('api.test'),
      '-H',
      `Authorization: Bearer ${PLACEHOLDER}`,
      `http://api.test:${up.httpPort}/echo`,
    ]);
    assert.equal(ok.status, 200);
    assert.ok(up.seen.at(-1)!.headers.includes(`Bearer ${REAL_KEY}`));
    assert.ok(!ok.body.includes(REAL_KEY) && ok.body.includes(PLACEHOLDER));
  });

  it('a passthrough domain is tunnelled without decryption (the agent sees the upstream certificate)', async () => {
    // Trusting only the upstream's own CA works; trusting only the cage CA does not: no interception.
    const direct = await curl([
      ...viaHttps('pass.test', 443),
      '--cacert',
      upstreamCaFile,
      'https://pass.test/1k',
    ]);
    assert.equal(direct.status, 200, direct.stderr);
    assert.equal(direct.body.length, 1024);
    const cage = await curl([...viaHttps('pass.test', 443), '--cacert', rig.caPath, 'https://pass.test/1k']);
    assert.equal(cage.status, 0);
    assert.match(cage.stderr, /certificate/i);
    const line = rig
      .auditLines()
      .filter((l) => l.host === 'pass.test')
      .at(-1);
    assert.equal(line?.passthrough, true);
  });
});
