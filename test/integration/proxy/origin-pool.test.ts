// The upstream HTTP/1.1 client (OriginPool) against real loopback servers, some of which speak
// raw bytes so the test controls exactly what the "server" does wrong.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { lookup as dnsLookup } from 'node:dns';
import {
  OriginPool,
  type OutgoingRequest,
  type OriginOptions,
} from '../../../proxy-image/src/proxy/origin-pool.ts';
import { mintTestPki } from './harness.ts';

interface Result {
  status: number;
  headers: string[];
  body: Buffer;
  /** per body chunk: whether it came as a volatile view of the read buffer */
  volatile: boolean[];
  error?: Error & { code?: string };
}

/** One exchange through the pool; resolves on complete or error. */
function send(
  pool: OriginPool,
  req: Partial<OutgoingRequest> = {},
  hooks: { onData?: (c: Buffer, resume: () => void) => boolean } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const r: Result = { status: 0, headers: [], body: Buffer.alloc(0), volatile: [] };
    let resume = () => {};
    pool.dispatch(
      { method: 'GET', path: '/', headers: ['host', 'origin.test'], body: null, ...req },
      {
        onConnect: () => {},
        onHeaders: (status, headers, res) => {
          r.status = status;
          r.headers = headers;
          resume = res;
          return true;
        },
        onData: (c, volatile) => {
          chunks.push(Buffer.from(c));
          r.volatile.push(volatile);
          return hooks.onData ? hooks.onData(c, resume) : true;
        },
        onComplete: () => resolve({ ...r, body: Buffer.concat(chunks) }),
        onError: (e) => resolve({ ...r, body: Buffer.concat(chunks), error: e }),
      },
    );
  });
}

/** A raw TCP server: `answer` sees each request head and writes whatever it likes. */
async function rawServer(answer: (sock: net.Socket, head: string, n: number) => void) {
  let connections = 0;
  let requests = 0;
  const heads: string[] = [];
  const srv = net.createServer((sock) => {
    connections++;
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, i);
        buf = buf.slice(i + 4);
        const len = /content-length: (\d+)/i.exec(head);
        if (len) buf = buf.slice(Number(len[1]));
        heads.push(head);
        answer(sock, head, ++requests);
      }
    });
    sock.on('error', () => {});
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    port: (srv.address() as AddressInfo).port,
    heads,
    get connections() {
      return connections;
    },
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

const pki = mintTestPki(['origin.test']);
const ctx = createSecureContext({ ca: pki.caPem });

function poolFor(port: number, extra: Partial<OriginOptions> = {}): OriginPool {
  return new OriginPool({
    scheme: 'http',
    host: '127.0.0.1',
    port,
    lookup: dnsLookup,
    secureContext: ctx,
    connectTimeoutMs: 2000,
    ...extra,
  });
}

describe('upstream client (OriginPool)', () => {
  it('reuses one keep-alive connection for sequential requests; bodies intact', async () => {
    const s = await rawServer((sock, _h, n) => {
      const body = `answer ${n}`;
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nX-N: ${n}\r\n\r\n${body}`);
    });
    const pool = poolFor(s.port);
    for (let i = 1; i <= 3; i++) {
      const r = await send(pool);
      assert.equal(r.error, undefined);
      assert.equal(r.body.toString(), `answer ${i}`);
      assert.deepEqual(r.headers.slice(2, 4), ['X-N', String(i)]); // raw case kept
    }
    assert.equal(s.connections, 1);
    pool.destroy();
    await s.close();
  });

  it('reads chunked, close-delimited and HEAD responses; skips 1xx heads', async () => {
    const s = await rawServer((sock, head) => {
      if (head.startsWith('HEAD')) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n');
      else if (head.includes('/chunked'))
        sock.write(
          'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
        );
      else sock.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end');
    });
    const pool = poolFor(s.port);
    const chunked = await send(pool, { path: '/chunked' });
    assert.equal(chunked.status, 200);
    assert.equal(chunked.body.toString(), 'abcde');
    const headR = await send(pool, { method: 'HEAD' });
    assert.equal(headR.status, 200);
    assert.equal(headR.body.length, 0);
    assert.equal(s.connections, 1, 'chunked and HEAD answers leave the connection reusable');
    const closed = await send(pool, { path: '/close' });
    assert.equal(closed.error, undefined);
    assert.equal(closed.body.toString(), 'until the end');
    pool.destroy();
    await s.close();
  });

  it('cuts a server that answers more than it was asked: its extra response never reaches the next request', async () => {
    const s = await rawServer((sock, _h, n) => {
      if (n === 1)
        sock.write(
          'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled',
        );
      else sock.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond');
    });
    const pool = poolFor(s.port);
    const a = await send(pool);
    assert.equal(a.body.toString(), 'first');
    const b = await send(pool);
    assert.equal(b.body.toString(), 'second');
    assert.equal(s.connections, 2, 'the connection that carried extra bytes was not reused');
    pool.destroy();
    await s.close();

    // The same with only the start of a second response after the first.
    const t = await rawServer((sock, _h, n) => {
      if (n === 1) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 2');
      else sock.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond');
    });
    const pool2 = poolFor(t.port);
    assert.equal((await send(pool2)).body.toString(), 'first');
    const c = await send(pool2);
    assert.equal(c.error, undefined);
    assert.equal(c.body.toString(), 'second');
    assert.equal(t.connections, 2);
    pool2.destroy();
    await t.close();
  });

  it('a response cut short is an error, never a complete body', async () => {
    const s = await rawServer((sock) => {
      sock.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b');
    });
    const pool = poolFor(s.port);
    const r = await send(pool);
    assert.equal(r.status, 200);
    assert.equal(r.error?.code, 'ECONNRESET');
    assert.match(r.error!.message, /before the response was complete/);
    pool.destroy();
    await s.close();
  });

  it('a malformed response is an EPROTO error; the well-formed twin passes', async () => {
    const s = await rawServer((sock, head) => {
      if (head.includes('/bad'))
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab');
      else sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab');
    });
    const pool = poolFor(s.port);
    const bad = await send(pool, { path: '/bad' });
    assert.equal(bad.error?.code, 'EPROTO');
    const good = await send(pool, { path: '/good' });
    assert.equal(good.error, undefined);
    assert.equal(good.body.toString(), 'ab');
    pool.destroy();
    await s.close();
  });

  it('refuses to send a header value with a line break or a path with a space (nothing reaches the server)', async () => {
    const s = await rawServer((sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    const pool = poolFor(s.port);
    assert.throws(
      () =>
        pool.dispatch(
          { method: 'GET', path: '/', headers: ['x-a', 'v\r\nx-b: injected'], body: null },
          {} as never,
        ),
      (e: Error & { code?: string }) => e.code === 'EINVAL' && /x-a/.test(e.message),
    );
    assert.throws(
      () => pool.dispatch({ method: 'GET', path: '/a b', headers: [], body: null }, {} as never),
      (e: Error & { code?: string }) => e.code === 'EINVAL',
    );
    const ok = await send(pool, { headers: ['x-a', 'plain value'] });
    assert.equal(ok.error, undefined);
    assert.equal(s.heads.length, 1);
    assert.match(s.heads[0], /\r\nx-a: plain value$/);
    pool.destroy();
    await s.close();
  });

  it('sends a GET again on a fresh connection when the idle one died; never a POST', async () => {
    // Answers, then closes the connection a moment later (as a server's keep-alive timeout does).
    const s = await rawServer((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      setTimeout(() => sock.destroy(), 20);
    });
    const pool = poolFor(s.port);
    assert.equal((await send(pool)).body.toString(), 'ok');
    await new Promise((r) => setTimeout(r, 60));
    // The pool may or may not have seen the close yet; either way the GET succeeds.
    const again = await send(pool);
    assert.equal(again.error, undefined);
    assert.equal(again.body.toString(), 'ok');
    pool.destroy();
    await s.close();

    // A server that closes every reused connection without answering: a POST fails, not resent.
    let answered = 0;
    const t = await rawServer((sock, _h) => {
      if (answered++ === 0) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else sock.destroy();
    });
    const pool2 = poolFor(t.port);
    await send(pool2);
    const post = await send(pool2, {
      method: 'POST',
      headers: ['content-length', '1'],
      body: Buffer.from('x'),
    });
    assert.ok(post.error, 'the POST is an error');
    assert.equal(t.heads.filter((h) => h.startsWith('POST')).length, 1, 'sent once only');
    pool2.destroy();
    await t.close();
  });

  it('stops reading while the caller is paused, then delivers the rest intact', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const srv = http.createServer((_q, res) => res.end(big));
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const pool = poolFor((srv.address() as AddressInfo).port);
    let received = 0;
    let resumeLater: (() => void) | undefined;
    const done = send(
      pool,
      {},
      {
        onData: (c, resume) => {
          received += c.length;
          if (resumeLater === undefined) {
            resumeLater = resume;
            return false;
          }
          return true;
        },
      },
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(received < 1024 * 1024, `read ${received} bytes while paused`);
    resumeLater!();
    const r = await done;
    assert.equal(r.error, undefined);
    assert.ok(r.body.equals(big), 'body intact after the pause');
    pool.destroy();
    srv.close();
  });

  it('closes the idle connections a period did not need, keeping one; steady concurrency keeps all of its own', async () => {
    let opened = 0;
    let open = 0;
    const srv = http.createServer({ keepAliveTimeout: 60_000 }, (_q, res) => {
      setTimeout(() => res.end('ok'), 20); // long enough for concurrent requests to overlap
    });
    srv.on('connection', (sock) => {
      opened++;
      open++;
      sock.on('close', () => open--);
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    // Every period holds a wave below with a wide margin (a wave and its pause take about
    // 175 ms), even on a slow machine; most of the time all five sit idle, so a trim that
    // ignored the waves would close some of them.
    const pool = poolFor((srv.address() as AddressInfo).port, { idleTrimMs: 400 });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const wave = async () => {
      const rs = await Promise.all([1, 2, 3, 4, 5].map(() => send(pool)));
      for (const r of rs) assert.equal(r.error, undefined);
    };
    // Five at once, for three trim periods: the same five connections throughout.
    const until = Date.now() + 1300;
    while (Date.now() < until) {
      await wave();
      await sleep(150);
    }
    assert.equal(opened, 5);
    await sleep(20);
    assert.equal(open, 5, 'no connection the load kept using was closed');
    // One client left: within two periods the four it does not need are closed.
    const seqUntil = Date.now() + 900;
    while (Date.now() < seqUntil) assert.equal((await send(pool)).error, undefined);
    await sleep(20);
    assert.ok(open <= 2, `${open} connections still open for one sequential client`);
    assert.equal(opened, 5, 'the sequential client reused a pooled connection');
    // Nothing at all: the last connection stays until the idle timeout (30 s here).
    await sleep(900);
    assert.equal(open, 1);
    assert.equal((await send(pool)).error, undefined);
    assert.equal(opened, 5);
    pool.destroy();
    srv.close();
  });

  it('keeps concurrent responses apart (one read buffer is shared by every connection)', async () => {
    const srv = http.createServer((q, res) => res.end(Buffer.alloc(200_000, q.url!.slice(1))));
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const pool = poolFor((srv.address() as AddressInfo).port);
    const letters = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const rs = await Promise.all(letters.map((l) => send(pool, { path: `/${l}` })));
    rs.forEach((r, i) => assert.ok(r.body.equals(Buffer.alloc(200_000, letters[i])), `body ${letters[i]}`));
    pool.destroy();
    srv.close();
  });

  it('counts out Content-Length bodies split anywhere across reads, as volatile views; chunked ones are copies', async () => {
    // Head and body in separate writes, the body in pieces, then the next response: every split
    // a server might make, with the connection reused throughout.
    const s = await rawServer((sock, head, n) => {
      const body = `body number ${n} `.repeat(50);
      const all = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      if (head.includes('/chunked')) {
        sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
        return;
      }
      const cuts = [n * 7, n * 7 + 40, all.length - 3].filter((c) => c > 0 && c < all.length);
      let from = 0;
      cuts.forEach((c, i) => {
        const part = all.slice(from, c);
        setTimeout(() => sock.write(part), i * 15);
        from = c;
      });
      setTimeout(() => sock.write(all.slice(from)), cuts.length * 15);
    });
    const pool = poolFor(s.port);
    for (let n = 1; n <= 6; n++) {
      const r = await send(pool);
      assert.equal(r.error, undefined);
      assert.equal(r.body.toString(), `body number ${n} `.repeat(50));
      assert.ok(
        r.volatile.length > 0 && r.volatile.every((v) => v),
        'Content-Length body chunks are volatile',
      );
    }
    const chunked = await send(pool, { path: '/chunked' });
    assert.equal(chunked.body.toString(), 'hello');
    assert.deepEqual(chunked.volatile, [false], 'the parser hands chunked bodies over as copies');
    assert.equal(s.connections, 1, 'one connection for every response');
    pool.destroy();
    await s.close();
  });

  it('times out a silent server with ETIMEDOUT', async () => {
    const s = await rawServer(() => {});
    const pool = poolFor(s.port, { responseTimeoutMs: 150 });
    const r = await send(pool);
    assert.equal(r.error?.code, 'ETIMEDOUT');
    pool.destroy();
    await s.close();
  });

  it('HTTPS: verifies the server against the given CAs; an untrusted server is a TLS error', async () => {
    const srv = https.createServer({ cert: pki.certPem, key: pki.keyPem }, (q, res) =>
      res.end(q.url!.startsWith('/big/') ? Buffer.alloc(300_000, q.url!.slice(5)) : 'secure'),
    );
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as AddressInfo).port;
    const lookup = ((_h: string, o: unknown, cb: (e: null, a: string, f: number) => void) =>
      typeof o === 'function'
        ? (o as typeof cb)(null, '127.0.0.1', 4)
        : (o as { all?: boolean }).all
          ? (cb as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [
              { address: '127.0.0.1', family: 4 },
            ])
          : cb(null, '127.0.0.1', 4)) as unknown as OriginOptions['lookup'];
    const trusted = poolFor(port, { scheme: 'https', host: 'origin.test', lookup });
    const ok = await send(trusted);
    assert.equal(ok.error, undefined);
    assert.equal(ok.body.toString(), 'secure');
    // Decrypted records go through the shared read buffer too: concurrent bodies stay apart.
    const letters = ['p', 'q', 'r', 's'];
    const big = await Promise.all(letters.map((l) => send(trusted, { path: `/big/${l}` })));
    big.forEach((r, i) => assert.ok(r.body.equals(Buffer.alloc(300_000, letters[i])), `body ${letters[i]}`));
    const other = mintTestPki(['origin.test'], 'some other CA');
    const untrusted = poolFor(port, {
      scheme: 'https',
      host: 'origin.test',
      lookup,
      secureContext: createSecureContext({ ca: other.caPem }),
    });
    const bad = await send(untrusted);
    assert.match(String(bad.error?.code), /CERT|UNABLE_TO|SELF_SIGNED/);
    trusted.destroy();
    untrusted.destroy();
    srv.close();
  });
});
