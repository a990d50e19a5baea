// X.509 certificates assembled with node-forge's ASN.1 and signed by node's crypto. forge's own
// certificate signer is pure JavaScript RSA (about 20 ms a leaf) and handles RSA keys only; this
// builds the same DER, takes any key node's crypto has (EC P-256 leaves, RSA or EC CAs) and signs
// natively (well under a millisecond).
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type forge from 'node-forge';
// Only forge's ASN.1 and util files, not its index (pure-JS TLS, RSA, ciphers: never used here).
import asn1 from 'node-forge/lib/asn1.js';
import forgeUtil from 'node-forge/lib/util.js';

const T = asn1.Type;
const C = asn1.Class;
type Asn1 = forge.asn1.Asn1;

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
};

const seq = (v: Asn1[]) => asn1.create(C.UNIVERSAL, T.SEQUENCE, true, v);
const oid = (o: string) => asn1.create(C.UNIVERSAL, T.OID, false, asn1.oidToDer(o).getBytes());
const octets = (bytes: string) => asn1.create(C.UNIVERSAL, T.OCTETSTRING, false, bytes);
const bin = (b: Buffer) => b.toString('binary');
const der = (node: Asn1) => Buffer.from(asn1.toDer(node).getBytes(), 'binary');

function time(d: Date): Asn1 {
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime after.
  return d.getUTCFullYear() < 2050
    ? asn1.create(C.UNIVERSAL, T.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(C.UNIVERSAL, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

export function name(attrs: Array<[oid: string, value: string]>): Asn1 {
  return seq(
    attrs.map(([o, v]) =>
      asn1.create(C.UNIVERSAL, T.SET, true, [
        seq([oid(o), asn1.create(C.UNIVERSAL, T.UTF8, false, forgeUtil.encodeUtf8(v))]),
      ]),
    ),
  );
}

function extension(o: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(o)];
  if (critical) parts.push(asn1.create(C.UNIVERSAL, T.BOOLEAN, false, '\xff'));
  parts.push(octets(asn1.toDer(value).getBytes()));
  return seq(parts);
}

function bitString(bytes: string, unusedBits = 0): Asn1 {
  return asn1.create(C.UNIVERSAL, T.BITSTRING, false, String.fromCharCode(unusedBits) + bytes);
}

function signatureAlgorithm(key: KeyObject): { node: () => Asn1; hash: string } {
  if (key.asymmetricKeyType === 'rsa')
    return {
      node: () => seq([oid(OID.sha256WithRSA), asn1.create(C.UNIVERSAL, T.NULL, false, '')]),
      hash: 'sha256',
    };
  if (key.asymmetricKeyType === 'ec') return { node: () => seq([oid(OID.ecdsaWithSHA256)]), hash: 'sha256' };
  throw new Error(`CA key type ${key.asymmetricKeyType} is not supported: use an RSA or EC (P-256) CA key`);
}

/** The key identifier of a public key (RFC 5280 4.2.1.2 method 1: SHA-1 of the key bits). */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = asn1.fromDer(forgeUtil.createBuffer(bin(publicKey.export({ type: 'spki', format: 'der' }))));
  const bits = (spki.value as Asn1[])[1].value as string; // first byte: unused bits (0)
  return createHash('sha1')
    .update(Buffer.from(bits.slice(1), 'binary'))
    .digest();
}

function serialNumber(): string {
  const s = randomBytes(16);
  s[0] = (s[0] & 0x7f) | 0x01; // positive, no leading zero byte
  return bin(s);
}

export interface CertSpec {
  subject: Asn1; // from name()
  issuer: Asn1;
  publicKey: KeyObject;
  signer: KeyObject; // issuer's private key
  notBefore: Date;
  notAfter: Date;
  ca: boolean;
  /** DNS names and IP addresses (leaf only) */
  altNames?: string[];
  authorityKeyId?: Buffer;
}

/** DER of the signed certificate. */
export function buildCertificate(spec: CertSpec): Buffer {
  const alg = signatureAlgorithm(spec.signer);
  const exts: Asn1[] = [];
  if (spec.ca) {
    exts.push(
      extension(OID.basicConstraints, true, seq([asn1.create(C.UNIVERSAL, T.BOOLEAN, false, '\xff')])),
      // keyCertSign (bit 5) + cRLSign (bit 6): 0b00000110, 1 unused bit
      extension(OID.keyUsage, true, bitString('\x06', 1)),
      extension(OID.subjectKeyIdentifier, false, octets(bin(keyIdentifier(spec.publicKey)))),
    );
  } else {
    const leafUsage = spec.publicKey.asymmetricKeyType === 'rsa' ? '\xa0' : '\x80'; // + keyEncipherment for RSA
    exts.push(
      extension(OID.basicConstraints, true, seq([])),
      extension(OID.keyUsage, true, bitString(leafUsage, leafUsage === '\x80' ? 7 : 5)),
      extension(OID.extKeyUsage, false, seq([oid(OID.serverAuth)])),
    );
    const names = (spec.altNames ?? []).map((n) => {
      const family = isIP(n);
      if (family === 0) return asn1.create(C.CONTEXT_SPECIFIC, 2, false, n); // dNSName
      return asn1.create(C.CONTEXT_SPECIFIC, 7, false, bin(ipBytes(n, family))); // iPAddress
    });
    if (names.length > 0) exts.push(extension(OID.subjectAltName, false, seq(names)));
  }
  if (spec.authorityKeyId) {
    exts.push(
      extension(
        OID.authorityKeyIdentifier,
        false,
        seq([asn1.create(C.CONTEXT_SPECIFIC, 0, false, bin(spec.authorityKeyId))]),
      ),
    );
  }
  const tbs = seq([
    asn1.create(C.CONTEXT_SPECIFIC, 0, true, [asn1.create(C.UNIVERSAL, T.INTEGER, false, '\x02')]),
    asn1.create(C.UNIVERSAL, T.INTEGER, false, serialNumber()),
    alg.node(),
    spec.issuer,
    seq([time(spec.notBefore), time(spec.notAfter)]),
    spec.subject,
    asn1.fromDer(forgeUtil.createBuffer(bin(spec.publicKey.export({ type: 'spki', format: 'der' })))),
    asn1.create(C.CONTEXT_SPECIFIC, 3, true, [seq(exts)]),
  ]);
  const tbsDer = der(tbs);
  const signature = sign(alg.hash, tbsDer, spec.signer);
  return der(seq([asn1.fromDer(forgeUtil.createBuffer(bin(tbsDer))), alg.node(), bitString(bin(signature))]));
}

function ipBytes(ip: string, family: number): Buffer {
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  // Expand "::" and convert each group.
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export function pemFromDer(derBytes: Buffer): string {
  const b64 = derBytes.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${b64.endsWith('\n') ? b64 : b64 + '\n'}-----END CERTIFICATE-----\n`;
}

/** The subject Name of a DER certificate, and its subjectKeyIdentifier when it has one. */
export function subjectOf(certDer: Buffer): { subject: Asn1; keyId?: Buffer } {
  const cert = asn1.fromDer(forgeUtil.createBuffer(bin(certDer)));
  const tbs = (cert.value as Asn1[])[0].value as Asn1[];
  const off = tbs[0].tagClass === C.CONTEXT_SPECIFIC && tbs[0].type === 0 ? 1 : 0;
  const subject = tbs[off + 4];
  let keyId: Buffer | undefined;
  for (const node of tbs.slice(off + 6)) {
    if (node.tagClass !== C.CONTEXT_SPECIFIC || node.type !== 3) continue;
    for (const ext of ((node.value as Asn1[])[0].value as Asn1[]) ?? []) {
      const parts = ext.value as Asn1[];
      if (asn1.derToOid(forgeUtil.createBuffer(parts[0].value as string)) !== OID.subjectKeyIdentifier)
        continue;
      const inner = asn1.fromDer(forgeUtil.createBuffer(parts[parts.length - 1].value as string));
      keyId = Buffer.from(inner.value as string, 'binary');
    }
  }
  return { subject, keyId };
}
