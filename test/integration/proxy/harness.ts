// Test harness for the proxy: a test CA for the upstreams (minted like any cage CA), loopback
// upstream HTTP/HTTPS/WebSocket servers, policy files, a proxy on port 0, and clients (curl, undici fetch, ws) that trust the cage CA. Everything stays on 127.0.0.1.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { WebSocket, WebSocketServer } from 'ws';
import type { ProxyPolicyInput } from '../../../operator/api/policy.ts';
import { silentLogger } from '../../../proxy-image/src/log.ts';
import { issueServerCert, mintCa } from '../../../proxy-image/src/tls/ca.ts';
import { ProxyServer, type ProxyOptions } from '../../../proxy-image/src/proxy/server.ts';

export const REAL_KEY = 'sk-live-REALVALUE-0123456789abcdefREAL';
export const PLACEHOLDER = 'agentcage-ph-0123456789abcdef0123456789abcdef';
export const AWS_KEY = 'AKIAIOSFODNN7EXAMPLF';

export function tempDir(prefix = 'agentcage-proxy-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

// ---- test CA for the upstream servers -----------------------------------------------------

export interface TestPki {
  caPem: string;
  caKeyPem: string;
  certPem: string;
  keyPem: string;
}

/** A test CA and one server certificate for the given names (and 127.0.0.1). */
export function mintTestPki(names: string[], caName = 'agentcage test upstream CA'): TestPki {
  const ca = mintCa(caName);
  const leaf = issueServerCert(ca, names, ['127.0.0.1']);
  return { caPem: ca.certPem, caKeyPem: ca.keyPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
}

// ---- upstream servers -------------------------------------------------------------------

export interface Upstream {
  httpPort: number;
  httpsPort: number;
  /** requests as the upstream saw them */
  seen: Array<{ host: string; method: string; path: string; headers: string[]; body: string }>;
  close(): Promise<void>;
}

export const BODY_1K = Buffer.alloc(1024, 'a');
export const BODY_64K = Buffer.alloc(64 * 1024, 'b');

/**
 * A body that names its seed and line number on every 11-byte line, with the real value near
 * the middle: bytes from another response, or from elsewhere in this one, cannot pass for it.
 */
export function patternBody(seed: string, lines: number): Buffer {
  const body = Buffer.alloc(lines * 11);
  for (let i = 0; i < lines; i++) body.write(`${seed[0]}${String(i).padStart(9, '0')}\n`, i * 11, 'latin1');
  body.write(REAL_KEY, Math.floor(lines / 2) * 11 + 3);
  return body;
}

function handler(seen: Upstream['seen']) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const path = req.url ?? '/';
      seen.push({
        host: req.headers.host ?? '',
        method: req.method ?? '',
        path,
        headers: req.rawHeaders,
        body,
      });
      if (path === '/1k') return res.writeHead(200, { 'content-type': 'text/plain' }).end(BODY_1K);
      if (path === '/64k') return res.writeHead(200, { 'content-type': 'text/plain' }).end(BODY_64K);
      if (path === '/big') {
        // 3 MiB, no Content-Length (chunked), a real value straddling the 2 MiB mark.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const body = Buffer.alloc(3 * 1024 * 1024, 'x');
        body.write(REAL_KEY, 2 * 1024 * 1024 - 7);
        for (let off = 0; off < body.length; off += 100_000) res.write(body.subarray(off, off + 100_000));
        res.end();
        return;
      }
      if (path.startsWith('/sized/')) {
        // A body of the given size with a Content-Length, a real value straddling the 16 KiB mark.
        const body = Buffer.alloc(Number(path.slice(7)), 'y');
        if (body.length > 16 * 1024 + 10) body.write(REAL_KEY, 16 * 1024 - 9);
        else body.write(REAL_KEY, 10);
        return res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
      }
      if (path.startsWith('/pattern/')) {
        // /pattern/SEED/LINES: patternBody with a Content-Length, written in uneven pieces.
        const [seed, lines] = path.slice(9).split('/');
        const body = patternBody(seed, Number(lines));
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
        for (let off = 0; off < body.length; off += 70_001) res.write(body.subarray(off, off + 70_001));
        return res.end();
      }
      if (path === '/slow') {
        setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('slow done'), 300);
        return;
      }
      if (path === '/kill') {
        // Headers and part of a chunked body, then the connection dies.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial-');
        setTimeout(() => req.socket.destroy(), 50);
        return;
      }
      if (path.startsWith('/kill-sized/')) {
        // Announces N bytes, sends a third of them, then the connection dies.
        const size = Number(path.slice(12));
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': size });
        res.write(Buffer.alloc(Math.floor(size / 3), 'z'));
        setTimeout(() => req.socket.destroy(), 50);
        return;
      }
      if (path === '/stream') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        // The real value split across writes: the redactor must catch it across chunk edges.
        const half = REAL_KEY.length >> 1;
        res.write('start:' + REAL_KEY.slice(0, half));
        setTimeout(() => res.end(REAL_KEY.slice(half) + ':end'), 20);
        return;
      }
      const echo = JSON.stringify({ method: req.method, path, headers: req.rawHeaders, body });
      if (path.startsWith('/gzip')) {
        return res
          .writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
          .end(zlib.gzipSync(echo));
      }
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-echo-auth': req.headers.authorization ?? '',
      });
      res.end(echo);
    });
  };
}

function attachWebSocket(server: http.Server): WebSocketServer {
  const wss = new WebSocketServer({ server, perMessageDeflate: true });
  wss.on('connection', (ws, req) => {
    ws.send(JSON.stringify({ hello: true, auth: req.headers.authorization ?? null, protocol: ws.protocol }));
    ws.on('message', (data, isBinary) => {
      const text = data.toString();
      if (text === 'send-real') return ws.send(`inbound carries ${REAL_KEY}`);
      // Says whether the real value arrived, so tests can tell injection from pass-through.
      ws.send(isBinary ? data : `echo:${text}${text.includes(REAL_KEY) ? ' [real value received]' : ''}`, {
        binary: isBinary,
      });
    });
  });
  return wss;
}

export async function startUpstream(pki: TestPki): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const h = http.createServer(handler(seen));
  const s = https.createServer({ key: pki.keyPem, cert: pki.certPem }, handler(seen));
  const w1 = attachWebSocket(h);
  const w2 = attachWebSocket(s);
  await Promise.all([h, s].map((srv) => new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))));
  return {
    httpPort: (h.address() as AddressInfo).port,
    httpsPort: (s.address() as AddressInfo).port,
    seen,
    async close() {
      for (const w of [w1, w2]) for (const c of w.clients) c.terminate();
      for (const srv of [h, s]) srv.closeAllConnections();
      await Promise.all([h, s].map((srv) => new Promise<void>((r) => srv.close(() => r()))));
    },
  };
}

// ---- policy ------------------------------------------------------------------------------

export function policyDoc(
  up: Upstream,
  files: { secretFile: string; extraCaFile: string },
  over: Partial<ProxyPolicyInput> = {},
): ProxyPolicyInput {
  return {
    version: 1,
    cage: 'test',
    mode: 'explicit',
    egress: {
      mode: 'allowlist',
      rules: [
        { domain: 'api.test' },
        { domain: 'other.test' },
        { domain: 'pass.test' },
        { domain: 'meta.test' },
      ],
      passthrough: ['pass.test'],
      ports: [up.httpPort, up.httpsPort],
    },
    secrets: [
      {
        name: 'API_KEY',
        placeholder: PLACEHOLDER,
        valueFrom: { file: files.secretFile },
        injectTo: ['api.test'],
        injectIn: ['headers', 'url', 'body', 'websocket'],
      },
    ],
    inspectors: {},
    rateLimit: { enabled: true, requestsPerSecond: 1000, burst: 1000 },
    logging: {},
    capture: {},
    ssrf: { allowCidrs: ['127.0.0.0/8'] },
    upstream: { extraCaFile: files.extraCaFile },
    ...over,
  };
}

// ---- the proxy under test ----------------------------------------------------------------

export interface Rig {
  dir: string;
  pki: TestPki;
  up: Upstream;
  proxy: ProxyServer;
  policyPath: string;
  auditPath: string;
  caPath: string;
  proxyUrl: string;
  writePolicy(over?: Partial<ProxyPolicyInput>): void;
  auditLines(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export const STATIC_HOSTS = new Map([
  ['api.test', '127.0.0.1'],
  ['other.test', '127.0.0.1'],
  ['pass.test', '127.0.0.1'],
  ['blocked.test', '127.0.0.1'],
  ['meta.test', '169.254.169.254'],
]);

/** The names the test upstream answers for (its certificate's SANs, the policies' domains). */
export const UPSTREAM_NAMES = ['api.test', 'other.test', 'pass.test', 'blocked.test', 'localhost'];

export interface SharedUpstream {
  /** set by the suite's before hook */
  pki: TestPki;
  up: Upstream;
  /** startRig on the shared upstream; the suite's after hook closes the rig. */
  rig(over?: Partial<ProxyPolicyInput>, opts?: Partial<ProxyOptions>): Promise<Rig>;
}

/**
 * One upstream (and its test CA) for a whole mocha suite: registers before/after hooks that start
 * it, and close it along with every rig made through `rig`. Call it in the describe body.
 */
export function sharedUpstream(): SharedUpstream {
  const rigs: Rig[] = [];
  const s = {
    async rig(over: Partial<ProxyPolicyInput> = {}, opts: Partial<ProxyOptions> = {}) {
      const r = await startRig(over, opts, { pki: s.pki, up: s.up });
      rigs.push(r);
      return r;
    },
  } as SharedUpstream;
  before(async () => {
    s.pki = mintTestPki(UPSTREAM_NAMES);
    s.up = await startUpstream(s.pki);
  });
  after(async () => {
    for (const r of rigs) await r.close();
    await s.up?.close();
  });
  return s;
}

export async function startRig(
  over: Partial<ProxyPolicyInput> = {},
  opts: Partial<ProxyOptions> = {},
  shared?: { pki: TestPki; up: Upstream },
): Promise<Rig> {
  const dir = tempDir();
  const pki = shared?.pki ?? mintTestPki(UPSTREAM_NAMES);
  const up = shared?.up ?? (await startUpstream(pki));
  const secretFile = join(dir, 'API_KEY');
  writeFileSync(secretFile, REAL_KEY + '\n');
  const extraCaFile = join(dir, 'upstream-ca.crt');
  writeFileSync(extraCaFile, pki.caPem);
  const policyPath = join(dir, 'policy.json');
  const writePolicy = (o: Partial<ProxyPolicyInput> = over) =>
    writeFileSync(policyPath, JSON.stringify(policyDoc(up, { secretFile, extraCaFile }, o), null, 2));
  writePolicy(over);
  const auditPath = join(dir, 'audit.jsonl');
  const proxy = await ProxyServer.start({
    policyPath,
    listen: { host: '127.0.0.1', port: 0 },
    metrics: { host: '127.0.0.1', port: 0 },
    caDir: join(dir, 'ca'),
    auditPath,
    staticHosts: STATIC_HOSTS,
    log: silentLogger,
    shutdownGraceMs: 500,
    ...opts,
  });
  return {
    dir,
    pki,
    up,
    proxy,
    policyPath,
    auditPath,
    caPath: join(dir, 'ca', 'ca.crt'),
    proxyUrl: `http://127.0.0.1:${proxy.ports.proxy}`,
    writePolicy,
    auditLines() {
      proxy.audit.flush();
      return readFileSync(auditPath, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    async close() {
      await proxy.close();
      if (!shared) await up.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- clients -------------------------------------------------------------------------------

export interface CurlResult {
  code: number; // curl's exit code
  status: number;
  headers: string;
  body: string;
  stderr: string;
}

/** Runs curl (never through a shell). `status` is 0 when curl got no HTTP response. */
export function curl(args: string[], timeoutMs = 15000): Promise<CurlResult> {
  const dir = tempDir('agentcage-curl-');
  const headerFile = join(dir, 'h');
  return new Promise((resolve) => {
    execFile(
      'curl',
      [
        '-sS',
        '--max-time',
        String(Math.ceil(timeoutMs / 1000)),
        '-D',
        headerFile,
        '-w',
        '\n%{http_code}',
        ...args,
      ],
      { encoding: 'utf8', maxBuffer: 8 * 1024 * 1024, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (err, stdout, stderr) => {
        const nl = stdout.lastIndexOf('\n');
        let headers = '';
        try {
          headers = readFileSync(headerFile, 'utf8');
        } catch {
          headers = '';
        }
        rmSync(dir, { recursive: true, force: true });
        resolve({
          code: err ? ((err as { code?: number }).code ?? 1) : 0,
          status: Number(stdout.slice(nl + 1)) || 0,
          headers,
          body: stdout.slice(0, Math.max(0, nl)),
          stderr,
        });
      },
    );
  });
}

/** Opens a CONNECT tunnel through the forward proxy. */
export function connectTunnel(proxyPort: number, authority: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: authority });
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`CONNECT answered ${res.statusCode}`));
      } else resolve(socket);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A WebSocket to wss://host:port/path through a CONNECT tunnel, trusting `ca`. */
export async function wsThroughProxy(
  proxyPort: number,
  host: string,
  port: number,
  ca: string,
  headers: Record<string, string> = {},
): Promise<WebSocket> {
  const raw = await connectTunnel(proxyPort, `${host}:${port}`);
  const secure = tls.connect({ socket: raw, servername: host, ca, ALPNProtocols: ['http/1.1'] });
  const ws = new WebSocket(`wss://${host}:${port}/ws`, {
    headers,
    createConnection: () => secure,
  } as ConstructorParameters<typeof WebSocket>[2]);
  return ws;
}

export function nextMessage(ws: WebSocket, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no WebSocket message in time')), timeoutMs);
    ws.once('message', (d) => {
      clearTimeout(t);
      resolve(d.toString());
    });
    ws.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

export function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
  });
}

/** Sends raw bytes to a port and collects everything until the server closes (or timeout). */
export function rawExchange(port: number, data: string | Buffer, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const t = setTimeout(() => s.destroy(), timeoutMs);
    s.on('data', (c) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    s.write(data);
  });
}

export function jsonBody(text: string): Record<string, unknown> {
  return JSON.parse(text) as Record<string, unknown>;
}
