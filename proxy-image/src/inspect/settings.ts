// policy.inspectors plus the built-in defaults that live in code (exempt content types, signed-URL
// parameters, the secret catalogue), compiled once when the inspectors are built.
import type { ProxyPolicy } from '../../../operator/api/policy.ts';
import { BUILTIN_PATTERNS, type SecretPattern } from './patterns.ts';

/** Bodies of these types are compressed or media by nature: no entropy or base64 verdicts. */
export const BUILTIN_EXEMPT_CONTENT_TYPES = [
  'image/*',
  'audio/*',
  'video/*',
  'font/*',
  'application/zip',
  'application/gzip',
  'application/x-gzip',
  'application/x-tar',
  'application/x-bzip2',
  'application/x-xz',
  'application/zstd',
  'application/x-7z-compressed',
  'application/x-rar-compressed',
  'application/java-archive',
  'application/pdf',
  'application/wasm',
  // git push: a packfile is zlib-compressed by design
  'application/x-git-receive-pack-request',
];

/** Signed-URL query parameters: high entropy by design, exempt on their providers' hosts. */
export const BUILTIN_URL_PARAM_ALLOWLIST: Record<string, string[]> = {
  // S3 (SigV4 and legacy SigV2 presigned URLs)
  'amazonaws.com': [
    'X-Amz-Signature',
    'X-Amz-Credential',
    'X-Amz-Security-Token',
    'X-Amz-Date',
    'X-Amz-SignedHeaders',
    'AWSAccessKeyId',
    'Signature',
    'x-amz-security-token',
  ],
  // GCS (V4 and V2 signed URLs)
  'storage.googleapis.com': [
    'X-Goog-Signature',
    'X-Goog-Credential',
    'X-Goog-Date',
    'GoogleAccessId',
    'Signature',
  ],
  // CloudFront signed URLs
  'cloudfront.net': ['Signature', 'Key-Pair-Id', 'Policy', 'Expires'],
  // Azure SAS tokens
  'core.windows.net': [
    'sig',
    'se',
    'sp',
    'sv',
    'sr',
    'st',
    'spr',
    'srt',
    'ss',
    'si',
    'skoid',
    'sktid',
    'skt',
    'ske',
    'sks',
    'skv',
  ],
};

export type InspectorSettings = ProxyPolicy['inspectors'];

export class PolicyError extends Error {
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'PolicyError';
  }
}

/** The secret catalogue for this policy: built-ins minus disabled, plus extras, domains merged. */
export function compilePatterns(settings: InspectorSettings): SecretPattern[] {
  const s = settings.secrets;
  const known = new Set(BUILTIN_PATTERNS.map((p) => p.name));
  for (const name of s.disabledPatterns) {
    if (!known.has(name))
      throw new PolicyError(
        'inspectors.secrets.disabledPatterns',
        `"${name}" is not a built-in pattern; known patterns: ${[...known].join(', ')}`,
      );
  }
  const extras = s.extraPatterns.map((e, i): SecretPattern => {
    let regex: RegExp;
    try {
      regex = new RegExp(e.regex, 'g');
    } catch (err) {
      throw new PolicyError(
        `inspectors.secrets.extraPatterns[${i}].regex`,
        `is not a valid regular expression (${(err as Error).message})`,
      );
    }
    if (known.has(e.name))
      throw new PolicyError(
        `inspectors.secrets.extraPatterns[${i}].name`,
        `"${e.name}" is already a built-in pattern: pick another name`,
      );
    return {
      name: e.name,
      title: `a "${e.name}" secret`,
      regex,
      trigger: 'full',
      anchors: [],
      reach: 0,
      allowedDomains: e.allowedDomains,
      severity: e.severity,
      action: 'block',
    };
  });
  const all = [...BUILTIN_PATTERNS.filter((p) => !s.disabledPatterns.includes(p.name)), ...extras];
  for (const name of Object.keys(s.allowedDomains)) {
    if (!all.some((p) => p.name === name))
      throw new PolicyError(
        `inspectors.secrets.allowedDomains.${name}`,
        `names no enabled pattern; known patterns: ${all.map((p) => p.name).join(', ')}`,
      );
  }
  return all.map((p) => ({
    ...p,
    allowedDomains: [...p.allowedDomains, ...(s.allowedDomains[p.name] ?? [])],
  }));
}

export function exemptContentTypes(settings: InspectorSettings): string[] {
  return [
    ...BUILTIN_EXEMPT_CONTENT_TYPES,
    ...settings.entropy.exemptContentTypes.map((t) => t.toLowerCase()),
  ];
}

export function isExempt(media: string, exempt: readonly string[]): boolean {
  if (!media) return false;
  for (const t of exempt) {
    if (t.endsWith('/*') ? media.startsWith(t.slice(0, -1)) : media === t) return true;
  }
  return false;
}

export function urlParamAllowlist(settings: InspectorSettings): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [d, ps] of Object.entries(BUILTIN_URL_PARAM_ALLOWLIST)) out[d] = [...ps];
  for (const [d, ps] of Object.entries(settings.entropy.urlParamAllowlist))
    out[d] = [...(out[d] ?? []), ...ps];
  return out;
}
