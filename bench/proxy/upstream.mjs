// Benchmark upstream: HTTP and HTTPS on 127.0.0.1 serving fixed 1 KiB and 64 KiB bodies.
// Usage: node upstream.mjs CERT KEY  -> prints {"http":P,"https":P} once listening.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

const [cert, key] = process.argv.slice(2);
const bodies = { '/1k': Buffer.alloc(1024, 'a'), '/64k': Buffer.alloc(64 * 1024, 'b') };
const handler = (req, res) => {
  const body = bodies[req.url] ?? Buffer.from('ok\n');
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
};
const h = http.createServer({ keepAliveTimeout: 60_000 }, handler);
const s = https.createServer(
  { cert: readFileSync(cert), key: readFileSync(key), keepAliveTimeout: 60_000 },
  handler,
);
h.listen(0, '127.0.0.1', () =>
  s.listen(0, '127.0.0.1', () =>
    console.log(JSON.stringify({ http: h.address().port, https: s.address().port })),
  ),
);
