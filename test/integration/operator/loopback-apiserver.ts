// A loopback HTTPS server standing in for kube-apiserver at the HTTP level: it records every
// request (method, path, query, headers, body) and answers with whatever the test's handler
// writes, so tests can give the real API server's JSON shapes. Also writes a kubeconfig for it
// (bearer token, the server's own CA), so the client under test authenticates for real.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueServerCert, mintCa } from '../../../proxy-image/src/tls/ca.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export type Handler = (req: RecordedRequest, res: import('node:http').ServerResponse) => void;

export interface LoopbackApiServer {
  url: string;
  kubeconfigPath: string;
  token: string;
  requests: RecordedRequest[];
  setHandler(h: Handler): void;
  close(): Promise<void>;
}

let cached: { caPem: string; certPem: string; keyPem: string } | undefined;

/** A CA and its server certificate for 127.0.0.1 (made once per test run). */
function loopbackCert(): { caPem: string; certPem: string; keyPem: string } {
  if (cached) return cached;
  const ca = mintCa('loopback-apiserver CA');
  const leaf = issueServerCert(ca, [], ['127.0.0.1'], 1);
  cached = { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
  return cached;
}

export async function startLoopbackApiServer(handler: Handler = notFoundHandler): Promise<LoopbackApiServer> {
  const { caPem, certPem, keyPem } = loopbackCert();
  const requests: RecordedRequest[] = [];
  let current = handler;
  const server = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'https://127.0.0.1');
      const r: RecordedRequest = {
        method: req.method ?? '',
        path: u.pathname,
        query: u.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(r);
      try {
        current(r, res);
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  const token = randomBytes(16).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'agentcage-kubeconfig-'));
  const kubeconfigPath = join(dir, 'config');
  writeFileSync(
    kubeconfigPath,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: loopback',
      '  cluster:',
      `    server: ${url}`,
      `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
      'users:',
      '- name: operator',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: loopback',
      '  context: {cluster: loopback, user: operator, namespace: default}',
      'current-context: loopback',
      '',
    ].join('\n'),
  );
  return {
    url,
    kubeconfigPath,
    token,
    requests,
    setHandler: (h) => (current = h),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function sendJson(res: import('node:http').ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** The Status object kube-apiserver answers errors with. */
export function status(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

function notFoundHandler(req: RecordedRequest, res: import('node:http').ServerResponse) {
  sendJson(
    res,
    404,
    status(404, 'NotFound', `the server could not find the requested resource (${req.path})`),
  );
}
