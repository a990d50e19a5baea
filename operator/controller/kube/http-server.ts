// /healthz, /readyz and /metrics on one small HTTP server. Anything else is 404; only GET/HEAD.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Probe {
  ok: boolean;
  detail: string;
}

export interface OperatorHttpServerOptions {
  host: string;
  port: number;
  registry: Registry;
  healthz: () => Probe;
  readyz: () => Probe;
}

export interface OperatorHttpServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startOperatorHttpServer(o: OperatorHttpServerOptions): Promise<OperatorHttpServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const p = path === '/healthz' ? o.healthz() : o.readyz();
      res
        .writeHead(p.ok ? 200 : 503, { 'content-type': 'text/plain' })
        .end(`${p.ok ? 'ok' : 'not ok'}: ${p.detail}\n`);
      return;
    }
    if (path === '/metrics') {
      o.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': o.registry.contentType }).end(text),
        (err: unknown) =>
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
      );
      return;
    }
    res
      .writeHead(404, { 'content-type': 'text/plain' })
      .end('not found: try /healthz, /readyz or /metrics\n');
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
