// Malformed and hostile input never crashes the proxy: each gets a clear error and the proxy keeps
// serving everyone else. Upstream failures mid-response are contained too.
import assert from 'node:assert/strict';
import net from 'node:net';
import { curl, jsonBody, rawExchange, startRig, type Rig } from './harness.ts';

describe('proxy robustness: malformed requests, slow clients, dying upstreams', function () {
  this.timeout(30000);
  let rig: Rig;
  let ok: () => Promise<void>;

  before(async () => {
    rig = await startRig({}, { headersTimeoutMs: 1500, transparentHttp: { host: '127.0.0.1', port: 0 } });
    ok = async () => {
      const r = await curl(['-x', rig.proxyUrl, `http://api.test:${rig.up.httpPort}/1k`]);
      assert.equal(r.status, 200, 'the proxy still serves others');
    };
  });
  after(async () => rig?.close());

  const target = () => `http://api.test:${rig.up.httpPort}/echo`;

  it('a bad request line gets 400 with a JSON reason', async () => {
    for (const line of [
      'GARBAGE\r\n\r\n',
      'GET\r\n\r\n',
      'GET / HTTP/9.9\r\nHost: x\r\n\r\n',
      '\x16\x03\x01\x00\x05hello',
    ]) {
      const res = await rawExchange(rig.proxy.ports.proxy, line);
      assert.match(res, /^HTTP\/1\.1 400 /, JSON.stringify(line));
      const body = res.slice(res.indexOf('\r\n\r\n') + 4);
      assert.equal(jsonBody(body).error, 'bad-request');
    }
    await ok();
  });

  it('conflicting Content-Length and Transfer-Encoding is refused, never forwarded', async () => {
    const before = rig.up.seen.length;
    const res = await rawExchange(
      rig.proxy.ports.proxy,
      `POST ${target()} HTTP/1.1\r\nHost: api.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: api.test\r\n\r\n`,
    );
    assert.match(res, /^HTTP\/1\.1 400 /);
    assert.match(res, /Transfer-Encoding/);
    assert.equal(rig.up.seen.length, before);
    const dup = await rawExchange(
      rig.proxy.ports.proxy,
      `POST ${target()} HTTP/1.1\r\nHost: api.test\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`,
    );
    assert.match(dup, /^HTTP\/1\.1 400 /);
    await ok();
  });

  it('oversized headers get 431', async () => {
    const res = await rawExchange(
      rig.proxy.ports.proxy,
      `GET ${target()} HTTP/1.1\r\nHost: api.test\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`,
    );
    assert.match(res, /^HTTP\/1\.1 431 /);
    await ok();
  });

  it('a slow client (headers trickling in) does not hold up others and is cut off with 408', async () => {
    const slow = net.connect(rig.proxy.ports.proxy, '127.0.0.1');
    const got: Buffer[] = [];
    slow.on('data', (c) => got.push(c));
    slow.on('error', () => {});
    const closed = new Promise<void>((r) => slow.once('close', () => r()));
    slow.write(`GET ${target()} HTTP/1.1\r\n`);
    let n = 0;
    const drip = setInterval(() => {
      if (!slow.destroyed && n < 40) slow.write(`X-Drip-${n++}: 1\r\n`);
    }, 100);
    try {
      // Others are served while it drips.
      await ok();
      await ok();
      await closed;
    } finally {
      clearInterval(drip);
    }
    assert.match(Buffer.concat(got).toString(), /^HTTP\/1\.1 408 /);
    await ok();
  });

  it('the transparent listener answers malformed input the same way', async () => {
    const res = await rawExchange(rig.proxy.ports.transparentHttp!, 'NOT HTTP AT ALL\r\n\r\n');
    assert.match(res, /^HTTP\/1\.1 400 /);
  });

  it('an upstream killed mid-response cuts that response only; the proxy stays up', async () => {
    for (const scheme of ['http', 'https'] as const) {
      const port = scheme === 'http' ? rig.up.httpPort : rig.up.httpsPort;
      const r = await curl(['-x', rig.proxyUrl, '--cacert', rig.caPath, `${scheme}://api.test:${port}/kill`]);
      // Headers arrived, then the connection was cut: curl reports a transfer error, not a clean 200.
      assert.notEqual(r.code, 0, scheme);
      assert.ok(r.body.startsWith('partial-') || r.body === '', r.body);
    }
    await ok();
    const cut = rig.auditLines().filter((l) => l.path === '/kill');
    assert.equal(cut.length, 2);
    for (const l of cut) assert.match(String(l.reason), /mid-response/);
  });

  it('a Content-Length body cut short never reaches the agent as complete', async () => {
    for (const scheme of ['http', 'https'] as const) {
      const port = scheme === 'http' ? rig.up.httpPort : rig.up.httpsPort;
      const fetchCut = (size: number) =>
        curl(['-x', rig.proxyUrl, '--cacert', rig.caPath, `${scheme}://api.test:${port}/kill-sized/${size}`]);
      // Streamed to the agent (over 16 KiB): the agent's transfer is cut, not ended cleanly.
      const big = await fetchCut(90000);
      assert.notEqual(big.code, 0, `${scheme}: curl reports the cut`);
      assert.ok(big.body.length < 90000, `${scheme}: ${big.body.length} bytes, not the announced 90000`);
      // Held whole for redaction (16 KiB or less): nothing was sent yet, so the agent gets a 502.
      const small = await fetchCut(9000);
      assert.equal(small.status, 502, `${scheme}: ${small.body}`);
      assert.equal(jsonBody(small.body).error, 'upstream-error');
    }
    await ok();
    const audited = rig.auditLines().filter((l) => String(l.path).startsWith('/kill-sized/'));
    assert.equal(audited.length, 4);
    for (const l of audited)
      if (l.path === '/kill-sized/9000') assert.equal(l.decision, 'error');
      else assert.match(String(l.reason), /mid-response/);
  });

  it('an upstream answering garbage or a header node cannot relay gives a 502; the proxy stays up', async () => {
    const answers = [
      'HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nok',
      'NOT HTTP\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ];
    let i = 0;
    const bad = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.end(answers[i++ % answers.length]));
    });
    await new Promise<void>((r) => bad.listen(0, '127.0.0.1', () => r()));
    const port = (bad.address() as net.AddressInfo).port;
    try {
      rig.writePolicy({
        egress: {
          mode: 'allowlist',
          rules: [{ domain: 'api.test' }],
          passthrough: [],
          ports: [port, rig.up.httpPort],
        },
      });
      assert.equal(await rig.proxy.reload(), true);
      for (let n = 0; n < answers.length; n++) {
        const r = await curl(['-x', rig.proxyUrl, `http://api.test:${port}/`]);
        assert.equal(r.status, 502, `answer ${n}: ${r.body}`);
        assert.equal(jsonBody(r.body).error, 'upstream-error');
      }
      await ok();
    } finally {
      rig.writePolicy();
      await rig.proxy.reload();
      await new Promise<void>((r) => bad.close(() => r()));
    }
  });

  it('an upstream that is not listening gives a 502 JSON, not a hang', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const port = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    rig.writePolicy({
      egress: { mode: 'allowlist', rules: [{ domain: 'api.test' }], passthrough: [], ports: [port] },
    });
    assert.equal(await rig.proxy.reload(), true);
    const r = await curl(['-x', rig.proxyUrl, `http://api.test:${port}/`]);
    assert.equal(r.status, 502);
    assert.equal(jsonBody(r.body).error, 'upstream-error');
    assert.match(String(jsonBody(r.body).reason), /refused/);
    rig.writePolicy();
    assert.equal(await rig.proxy.reload(), true);
    await ok();
  });
});
