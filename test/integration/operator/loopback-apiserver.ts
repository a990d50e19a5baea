// A loopback HTTPS server standing in for kube-apiserver at the HTTP level: it records every
// request (method, path, query, headers, body) and answers with whatever the test's handler
// writes, so tests can give the real API server's JSON shapes. Also writes a kubeconfig for it
// (bearer token, the server's own CA), so the client under test authenticates for real.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';

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

let cached: { certPem: string; keyPem: string } | undefined;

/** A self-signed certificate for 127.0.0.1 (made once per test run). */
function loopbackCert(): { certPem: string; keyPem: string } {
  if (cached) return cached;
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = '01' + randomBytes(8).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 86400_000);
  const subject = [{ name: 'commonName', value: 'loopback-apiserver' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true },
    { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  cached = { certPem: forge.pki.certificateToPem(cert), keyPem: privateKey };
  return cached;
}

export async function startLoopbackApiServer(handler: Handler = notFoundHandler): Promise<LoopbackApiServer> {
  const { certPem, keyPem } = loopbackCert();
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
      `    certificate-authority-data: ${Buffer.from(certPem).toString('base64')}`,
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
