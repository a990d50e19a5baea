// What the controller generates once per Cage and must keep so renders stay stable: the cage CA
// (Secret <name>-proxy-ca, type kubernetes.io/tls, mounted only by the proxy; the renderer puts
// the certificate alone in the agent's ConfigMap) and the placeholders of secrets whose spec
// gives none (Secret <name>-placeholders). The CA is minted by the proxy's own code and replaced
// before it expires.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Cage } from '../../api/cage.ts';
import { ownedMeta as renderedMeta } from '../../render/kubernetes.ts';
import { cageNames } from '../../render/names.ts';
import { mintCa } from '../../../proxy-image/src/tls/ca.ts';
import type { KubeObject, ObjectMeta } from './types.ts';

const DAY = 86400_000;
/** A CA with less validity left than this is replaced. */
export const CA_ROTATE_BEFORE_MS = 30 * DAY;
export const PLACEHOLDERS_KEY = 'placeholders.json';

export interface CaMaterial {
  certPem: string;
  keyPem: string;
  notAfter: Date;
  /**
   * SHA-256 of the certificate, as `openssl x509 -fingerprint -sha256` prints it (X509Certificate's
   * fingerprint256, what tls/ca.ts fingerprint() returns: read off the one parse, not a second).
   */
  fingerprint: string;
}

export function placeholdersSecretName(cage: Cage): string {
  return `${cage.metadata.name}-placeholders`;
}

/** The CA in a Secret, or why it cannot be used (then a new one is minted). */
export function readCaSecret(secret: KubeObject | undefined): CaMaterial | { problem: string } | undefined {
  if (!secret) return undefined;
  const data = (secret.data ?? {}) as Record<string, string>;
  if (!data['tls.crt'] || !data['tls.key']) return { problem: 'the Secret lacks tls.crt or tls.key' };
  try {
    const certPem = Buffer.from(data['tls.crt'], 'base64').toString('utf8');
    const keyPem = Buffer.from(data['tls.key'], 'base64').toString('utf8');
    const x = new X509Certificate(certPem);
    if (!x.ca) return { problem: 'tls.crt is not a CA certificate' };
    if (!x.checkPrivateKey(createPrivateKey(keyPem))) return { problem: 'tls.key is not the key of tls.crt' };
    return { certPem, keyPem, notAfter: new Date(x.validTo), fingerprint: x.fingerprint256 };
  } catch (err) {
    return { problem: `the CA does not parse: ${(err as Error).message}` };
  }
}

export type CaDecision = { action: 'keep'; ca: CaMaterial } | { action: 'mint' | 'rotate'; why: string };

export function decideCa(current: ReturnType<typeof readCaSecret>, now: Date): CaDecision {
  if (current === undefined) return { action: 'mint', why: 'no CA yet' };
  if ('problem' in current) return { action: 'mint', why: current.problem };
  const left = current.notAfter.getTime() - now.getTime();
  if (left < CA_ROTATE_BEFORE_MS)
    return {
      action: 'rotate',
      why: `the CA expires ${current.notAfter.toISOString()}, within ${CA_ROTATE_BEFORE_MS / DAY} days`,
    };
  return { action: 'keep', ca: current };
}

export function mintCageCa(cage: Cage, now: Date): CaMaterial {
  const ns = cage.metadata.namespace ?? 'default';
  const { certPem, keyPem } = mintCa(`agentcage ${ns}/${cage.metadata.name} CA`, now);
  const x = new X509Certificate(certPem);
  return { certPem, keyPem, notAfter: new Date(x.validTo), fingerprint: x.fingerprint256 };
}

function ownedMeta(cage: Cage, name: string): ObjectMeta {
  const uid = (cage.metadata as { uid?: string }).uid;
  return renderedMeta(cage, name, 'proxy', cage.metadata.namespace ?? 'default', uid);
}

export function caSecret(cage: Cage, ca: CaMaterial): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMeta(cage, cageNames(cage).caSecret),
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': Buffer.from(ca.certPem).toString('base64'),
      'tls.key': Buffer.from(ca.keyPem).toString('base64'),
    },
  };
}

export function readPlaceholders(secret: KubeObject | undefined): Record<string, string> {
  const raw = (secret?.data as Record<string, string> | undefined)?.[PLACEHOLDERS_KEY];
  if (!raw) return {};
  try {
    const parsed = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return {};
    return Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v === 'string')) as Record<
      string,
      string
    >;
  } catch {
    return {};
  }
}

export function placeholdersSecret(cage: Cage, placeholders: Record<string, string>): KubeObject {
  const sorted = Object.fromEntries(Object.entries(placeholders).sort(([a], [b]) => a.localeCompare(b)));
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMeta(cage, placeholdersSecretName(cage)),
    type: 'Opaque',
    data: { [PLACEHOLDERS_KEY]: Buffer.from(JSON.stringify(sorted)).toString('base64') },
  };
}
