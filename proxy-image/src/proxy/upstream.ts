// Connections to the real servers: keep-alive pools (one per policy generation, so a reload that
// changes the trusted CAs gets fresh connections), TLS verified against the system store plus the
// policy's extra CA, every new connection through the SSRF-checked lookup.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';

const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Alpine
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL
  '/etc/ssl/cert.pem',
];

/** The CAs upstream servers are checked against: node's bundled roots, the system store, the extra file. */
export function upstreamCaList(extraCaFile?: string): string[] {
  const cas = [...rootCertificates];
  for (const f of SYSTEM_BUNDLES) {
    if (existsSync(f)) {
      cas.push(readFileSync(f, 'utf8'));
      break;
    }
  }
  if (process.env.NODE_EXTRA_CA_CERTS && existsSync(process.env.NODE_EXTRA_CA_CERTS))
    cas.push(readFileSync(process.env.NODE_EXTRA_CA_CERTS, 'utf8'));
  if (extraCaFile) cas.push(readFileSync(extraCaFile, 'utf8'));
  return cas;
}

export function upstreamCaKey(extraCaFile: string | undefined, connectTimeoutMs: number): string {
  if (!extraCaFile) return `none:${connectTimeoutMs}`;
  const text = readFileSync(extraCaFile, 'utf8');
  return `${extraCaFile}:${createHash('sha256').update(text).digest('hex')}:${connectTimeoutMs}`;
}

export class UpstreamPool {
  readonly http: http.Agent;
  readonly https: https.Agent;
  readonly secureContext: SecureContext;

  constructor(
    readonly lookup: LookupFunction,
    extraCaFile: string | undefined,
    readonly connectTimeoutMs: number,
    /** what the pool depends on: a reload with the same key keeps the pool (and its connections) */
    readonly key = upstreamCaKey(extraCaFile, connectTimeoutMs),
  ) {
    // One context for every upstream connection: building one from ~150 roots costs milliseconds.
    this.secureContext = createSecureContext({ ca: upstreamCaList(extraCaFile) });
    const common = {
      keepAlive: true,
      keepAliveMsecs: 1000,
      maxFreeSockets: 256,
      scheduling: 'lifo' as const,
    };
    // `timeout` applies to idle pooled sockets only: the agent closes free ones that idle this long.
    this.http = new http.Agent({ ...common, timeout: 30_000 });
    this.https = new https.Agent({ ...common, timeout: 30_000 });
  }

  destroy(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
