// Connections to the real servers: one OriginPool per origin (keep-alive reuse, TLS sessions
// resumed), TLS verified against node's roots, the system store and the policy's extra CA, and
// every new connection through the SSRF-checked lookup. A reload that changes the trusted CAs
// gets a new UpstreamPool (fresh connections); one that does not keeps this one.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { LookupFunction } from 'node:net';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { OriginPool } from './origin-pool.ts';

const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Alpine
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL
  '/etc/ssl/cert.pem',
];
const MAX_POOLS = 1024;

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
  readonly secureContext: SecureContext;
  private readonly pools = new Map<string, OriginPool>();

  constructor(
    readonly lookup: LookupFunction,
    extraCaFile: string | undefined,
    readonly connectTimeoutMs: number,
    /** what the pool depends on: a reload with the same key keeps the pool (and its connections) */
    readonly key = upstreamCaKey(extraCaFile, connectTimeoutMs),
  ) {
    // One context for every upstream connection: building one from ~150 roots costs milliseconds.
    this.secureContext = createSecureContext({ ca: upstreamCaList(extraCaFile) });
  }

  /** The keep-alive pool for one origin. */
  pool(scheme: 'http' | 'https', host: string, port: number): OriginPool {
    const origin = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    let p = this.pools.get(origin);
    if (p === undefined) {
      if (this.pools.size >= MAX_POOLS) {
        const [oldest, old] = this.pools.entries().next().value as [string, OriginPool];
        this.pools.delete(oldest);
        old.close(); // lets its requests in flight finish
      }
      p = new OriginPool({
        scheme,
        host,
        port,
        lookup: this.lookup,
        secureContext: this.secureContext,
        connectTimeoutMs: this.connectTimeoutMs,
        idleTimeoutMs: 30_000,
        // Slow APIs (model inference) may think for minutes before answering.
        responseTimeoutMs: 600_000,
      });
      this.pools.set(origin, p);
    }
    return p;
  }

  destroy(): void {
    for (const p of this.pools.values()) p.destroy();
    this.pools.clear();
  }
}
