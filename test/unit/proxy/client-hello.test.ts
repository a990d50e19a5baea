import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { parseClientHello } from '../../../proxy-image/src/tls/client-hello.ts';

/** The first bytes a real TLS client (node's) sends, captured on a loopback socket. */
function captureHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  return new Promise((resolve) => {
    const server = net.createServer((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c) => {
        chunks.push(c);
        const all = Buffer.concat(chunks);
        if (all.length >= 5 && all.length >= 5 + all.readUInt16BE(3)) {
          resolve(all);
          s.destroy();
          server.close();
        }
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      const c = tls.connect({ ...opts, port, host: '127.0.0.1' });
      c.on('error', () => {});
    });
  });
}

describe('TLS ClientHello parsing', () => {
  it('reads the SNI a real client sends', async () => {
    const hello = await captureHello({ servername: 'api.example.com' });
    assert.deepEqual(parseClientHello(hello), { kind: 'hello', sni: 'api.example.com' });
  });

  it('reports no SNI when the client sends none', async () => {
    const hello = await captureHello({});
    assert.deepEqual(parseClientHello(hello), { kind: 'hello', sni: undefined });
  });

  it('asks for more bytes on every prefix, never misreads one', async () => {
    const hello = await captureHello({ servername: 'x.test' });
    for (let n = 0; n < hello.length; n++)
      assert.equal(parseClientHello(hello.subarray(0, n)).kind, 'more', `n=${n}`);
  });

  it('reads a ClientHello split across two TLS records', async () => {
    const hello = await captureHello({ servername: 'split.test' });
    const body = hello.subarray(5);
    const cut = 40;
    const rec = (b: Buffer) => Buffer.concat([Buffer.from([0x16, 3, 1, b.length >> 8, b.length & 255]), b]);
    const split = Buffer.concat([rec(body.subarray(0, cut)), rec(body.subarray(cut))]);
    assert.deepEqual(parseClientHello(split), { kind: 'hello', sni: 'split.test' });
  });

  it('tells plain HTTP and garbage apart from TLS', () => {
    assert.deepEqual(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')), { kind: 'not-tls' });
    assert.equal(parseClientHello(Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0])).kind, 'malformed');
    assert.equal(parseClientHello(Buffer.from([0x16, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0])).kind, 'malformed');
  });
});
