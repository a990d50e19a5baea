// The stand-in internet: one container playing every upstream the demo and the e2e tests talk to.
// Bundled with esbuild and run by node inside a container on its own podman network (never the
// real internet). It serves
//   HTTPS :443 and HTTP :80  echo what arrived (method, url, host, headers, body) as JSON;
//                            /leak answers with INET_LEAK (a "real secret" the proxy must redact)
//   WebSocket /ws            echoes every message back
//   DNS :53/udp              A for each name in INET_NAMES (and subdomains) -> INET_IP; else NXDOMAIN
// and logs one JSON line per request, frame and query on stdout, so a test can read what the
// upstream really received (e.g. the real secret the agent only held a placeholder for).
import dgram from 'node:dgram';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import dnsPacket from 'dns-packet';
import { WebSocketServer } from 'ws';

const names = (process.env.INET_NAMES ?? '').split(',').filter(Boolean);
// Its own address on the podman network, which answers DNS for every known name.
const ip =
  process.env.INET_IP ??
  Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address ??
  '127.0.0.1';
const leak = process.env.INET_LEAK ?? '';
const MAX_BODY = 1 << 20;

function log(rec: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...rec }) + '\n');
}

function handler(scheme: string) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const rec = {
        scheme,
        method: req.method,
        url: req.url,
        host: req.headers.host,
        headers: req.headers,
        body,
      };
      log({ kind: 'http', ...rec });
      if (req.url?.startsWith('/leak')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`here is the key: ${leak}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(rec));
    });
    req.on('error', () => res.destroy());
  };
}

const tls = {
  cert: readFileSync(process.env.INET_CERT ?? '/inet/tls.crt'),
  key: readFileSync(process.env.INET_KEY ?? '/inet/tls.key'),
};
const servers = [https.createServer(tls, handler('https')), http.createServer(handler('http'))];
for (const server of servers) {
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws, req) => {
    ws.on('message', (data, isBinary) => {
      log({ kind: 'ws', host: req.headers.host, data: data.toString() });
      ws.send(data, { binary: isBinary });
    });
    ws.on('error', () => ws.terminate());
  });
}
servers[0].listen(443, '0.0.0.0');
servers[1].listen(80, '0.0.0.0');

function known(name: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  return names.some((d) => n === d || n.endsWith('.' + d));
}

const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => {
  let q: dnsPacket.Packet;
  try {
    q = dnsPacket.decode(msg);
  } catch {
    return; // malformed: drop, never crash
  }
  const question = q.questions?.[0];
  if (!question) return;
  const ok = known(question.name);
  log({ kind: 'dns', name: question.name, type: question.type, found: ok });
  const answers: dnsPacket.Answer[] =
    ok && question.type === 'A' ? [{ type: 'A', name: question.name, ttl: 30, data: ip }] : [];
  const reply = dnsPacket.encode({
    id: q.id,
    type: 'response',
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (ok ? 0 : 3), // rcode 3: NXDOMAIN
    questions: q.questions,
    answers,
  });
  udp.send(reply, rinfo.port, rinfo.address);
});
udp.bind(53, '0.0.0.0');
log({ kind: 'ready', names, ip });
