// Per-host leaf certificates for TLS interception, as ready-made SecureContexts. One leaf key
// (EC P-256) serves every host; each host's certificate is minted once and cached (bounded LRU),
// so minting is off the hot path after a host's first connection.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { buildCertificate, name, pemFromDer } from './cert-builder.ts';
import type { CageCa } from './ca.ts';

const LEAF_DAYS = 30;
// Each cached SecureContext holds about 29 KB of native memory (OpenSSL SSL_CTX, key, chain):
// 256 hosts cap the cache near 7.5 MB (2000 was near 60 MB); a host past it is minted again
// (under a millisecond, the cert is signed natively).
const MAX_CACHED_HOSTS = 256;
const RENEW_BEFORE_MS = 86400_000;

interface Entry {
  ctx: SecureContext;
  renewAt: number;
}

export class LeafContexts {
  private readonly cache = new Map<string, Entry>();
  private readonly leafKeyPem: string;
  private readonly leafPublic: KeyObject;

  constructor(
    private readonly ca: CageCa,
    private readonly onMint: (host: string) => void = () => {},
    private readonly maxEntries = MAX_CACHED_HOSTS,
  ) {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.leafPublic = publicKey;
    this.leafKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  }

  /** The SecureContext presenting a certificate for `host` (a name or an IP address). */
  get(host: string, now = Date.now()): SecureContext {
    const hit = this.cache.get(host);
    if (hit !== undefined && hit.renewAt > now) {
      // LRU: re-insert moves it to the end.
      this.cache.delete(host);
      this.cache.set(host, hit);
      return hit.ctx;
    }
    const certPem = this.mint(host, now);
    const ctx = createSecureContext({ key: this.leafKeyPem, cert: certPem, minVersion: 'TLSv1.2' });
    const notAfter = Math.min(now + LEAF_DAYS * 86400_000, this.ca.notAfter.getTime());
    this.cache.delete(host);
    this.cache.set(host, { ctx, renewAt: notAfter - RENEW_BEFORE_MS });
    if (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.onMint(host);
    return ctx;
  }

  get size(): number {
    return this.cache.size;
  }

  /** PEM of a fresh leaf for `host` signed by the cage CA. */
  mint(host: string, now = Date.now()): string {
    const notBefore = new Date(now - 3600_000);
    const notAfter = new Date(Math.min(now + LEAF_DAYS * 86400_000, this.ca.notAfter.getTime()));
    const subjectAttrs: Array<[string, string]> = [['2.5.4.10', 'agentcage']];
    if (host.length <= 64) subjectAttrs.push(['2.5.4.3', host]);
    return pemFromDer(
      buildCertificate({
        subject: name(subjectAttrs),
        issuer: this.ca.subject,
        publicKey: this.leafPublic,
        signer: this.ca.key,
        notBefore,
        notAfter,
        ca: false,
        altNames: [host],
        authorityKeyId: this.ca.keyId,
      }),
    );
  }
}
