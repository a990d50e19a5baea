// The cage's CA: loaded from a directory (ca.crt + ca.key, as the operator mounts it), or minted
// there on first start when the directory holds none. Agents trust ca.crt; the key never leaves.
import { createPrivateKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCertificate, keyIdentifier, name, subjectOf, pemFromDer } from './cert-builder.ts';
import type forge from 'node-forge';

export interface CageCa {
  certPem: string;
  key: KeyObject;
  subject: forge.asn1.Asn1;
  keyId: Buffer;
  notAfter: Date;
  minted: boolean;
}

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export function caPaths(dir: string): { cert: string; key: string } {
  return { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
}

export function loadCa(dir: string): CageCa {
  const p = caPaths(dir);
  let certPem: string;
  let keyPem: string;
  try {
    certPem = readFileSync(p.cert, 'utf8');
    keyPem = readFileSync(p.key, 'utf8');
  } catch (e) {
    throw new Error(
      `cannot read the cage CA in ${dir} (${(e as Error).message}): mount ca.crt and ca.key there`,
    );
  }
  let x509: X509Certificate;
  let key: KeyObject;
  try {
    x509 = new X509Certificate(certPem);
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw new Error(
      `the cage CA in ${dir} does not parse (${(e as Error).message}): give PEM ca.crt and ca.key`,
    );
  }
  if (!x509.ca) throw new Error(`${p.cert} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  if (!x509.checkPrivateKey(key)) throw new Error(`${p.key} is not the key of ${p.cert}`);
  const { subject, keyId } = subjectOf(x509.raw);
  return {
    certPem,
    key,
    subject,
    keyId: keyId ?? keyIdentifier(x509.publicKey),
    notAfter: new Date(x509.validTo),
    minted: false,
  };
}

/** Mints an EC P-256 CA valid for ten years (ECDSA signs leaves in microseconds). */
export function mintCa(commonName: string, now = new Date()): KeyPairPem {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const subject = name([
    ['2.5.4.10', 'agentcage'],
    ['2.5.4.3', commonName.slice(0, 64)],
  ]);
  const notBefore = new Date(now.getTime() - 3600_000);
  const notAfter = new Date(now.getTime() + 10 * 365 * 86400_000);
  const certDer = buildCertificate({
    subject,
    issuer: subject,
    publicKey,
    signer: privateKey,
    notBefore,
    notAfter,
    ca: true,
  });
  return {
    certPem: pemFromDer(certDer),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

/**
 * A TLS server certificate (EC P-256 key) for DNS `names` and IP addresses `ips`, signed by `ca`
 * (RSA or EC): what the stand-in upstreams of tests and the demo present.
 */
export function issueServerCert(
  ca: KeyPairPem,
  names: string[],
  ips: string[] = [],
  days = 30,
  now = new Date(),
): KeyPairPem {
  const caCert = new X509Certificate(ca.certPem);
  const { subject: issuer, keyId } = subjectOf(caCert.raw);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const certDer = buildCertificate({
    subject: name([['2.5.4.3', (names[0] ?? ips[0] ?? 'localhost').slice(0, 64)]]),
    issuer,
    publicKey,
    signer: createPrivateKey(ca.keyPem),
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + days * 86400_000),
    ca: false,
    altNames: [...names, ...ips],
    authorityKeyId: keyId ?? keyIdentifier(caCert.publicKey),
  });
  return {
    certPem: pemFromDer(certDer),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

/** SHA-256 over the DER certificate, as `AB:CD:...` (what `openssl x509 -fingerprint -sha256` prints). */
export function fingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** Loads the CA from `dir`, minting one there first when it holds neither file. */
export function loadOrMintCa(dir: string, cage: string): CageCa {
  const p = caPaths(dir);
  const hasCert = existsSync(p.cert);
  const hasKey = existsSync(p.key);
  if (hasCert !== hasKey) {
    throw new Error(
      `${dir} holds ${hasCert ? 'ca.crt but not ca.key' : 'ca.key but not ca.crt'}: give both or neither (then one is minted)`,
    );
  }
  if (!hasCert) {
    const { certPem, keyPem } = mintCa(`agentcage ${cage} CA`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(p.key, keyPem, { mode: 0o600 });
    chmodSync(p.key, 0o600);
    writeFileSync(p.cert, certPem, { mode: 0o644 });
    return { ...loadCa(dir), minted: true };
  }
  return loadCa(dir);
}
