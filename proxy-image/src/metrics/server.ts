// The metrics port: /metrics for Prometheus, /healthz (the process answers) and /readyz (policy
// loaded, listeners bound, not shutting down). Separate from the proxy port; where the agent's
// network can reach the proxy's address (podman: one cage network), `deny` names that network
// and its connections are reset before a byte is read.
import http from 'node:http';
import { isIP, type AddressInfo, type BlockList } from 'node:net';
import type { Registry } from 'prom-client';

/** The peer as BlockList checks it (IPv4-mapped IPv6 addresses as IPv4). */
function peerOf(address: string | undefined): { ip: string; type: 'ipv4' | 'ipv6' } | undefined {
  if (!address) return undefined;
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (v4) return { ip: v4, type: 'ipv4' };
  const family = isIP(address);
  return family === 0 ? undefined : { ip: address, type: family === 4 ? 'ipv4' : 'ipv6' };
}

export async function startMetricsServer(
  registry: Registry,
  host: string,
  port: number,
  ready: () => boolean,
  deny?: BlockList,
): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (e: Error) =>
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${e.message}\n`),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics, /healthz or /readyz\n');
    }
  });
  if (deny) {
    server.on('connection', (socket) => {
      const peer = peerOf(socket.remoteAddress);
      // Unknown peer: refused too (fail closed).
      if (!peer || deny.check(peer.ip, peer.type)) socket.resetAndDestroy();
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
