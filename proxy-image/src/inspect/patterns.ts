// The secret formats the detectors know, each with the domains where it legitimately goes.
// `anchors` are literals every match contains: the scanner runs a pattern's regex only near them,
// so a body without any anchor costs one literal search, not one regex run per pattern.
import type { Severity } from './types.ts';

export interface SecretPattern {
  name: string;
  /** What it is, for reasons: "an AWS access key id". */
  title: string;
  /** Global regex. Group 1, when present, is the secret part (else the whole match). */
  regex: RegExp;
  /**
   * How the fast scanner finds candidates. 'anchor': a long word (a run of [A-Za-z0-9_-]) starts
   * with one of `anchors`. 'lookback': a word or base64 run of the given length has
   * `lookback.marker` in the bytes just before it. 'full': the regex runs over the whole input
   * (generic patterns; bounded by the scanner's size limit).
   */
  trigger: 'anchor' | 'lookback' | 'full';
  /** Case-sensitive literals a match contains, each at the start of a word (for 'anchor'). */
  anchors: string[];
  /** How far a match may end after its anchor (characters). */
  reach: number;
  /** How far a match may start before its anchor (characters). */
  back?: number;
  lookback?: { over: 'word' | 'base64'; min: number; max: number; before: number; marker: RegExp };
  allowedDomains: string[];
  severity: Severity;
  action: 'block' | 'flag';
  /** Extra check on a candidate match (group 1 or whole), false = not a finding. */
  verify?: (secret: string) => boolean;
}

// Left and right edges: a token does not start or end in the middle of a longer word.
const L = '(?<![A-Za-z0-9_-])';
// (the fast scanner looks for tokens at word starts; patterns use the same left edge)
const R = '(?![A-Za-z0-9_-])';
const re = (src: string, flags = '') => new RegExp(src, 'g' + flags);

const caseVariants = (...words: string[]) =>
  words.flatMap((w) => [w, w.toUpperCase(), w[0].toUpperCase() + w.slice(1)]);

const PLACEHOLDER_SHAPE = /agentcage-ph-[0-9a-f]{32}/;
const DUMMY_VALUE =
  /^(?:\*+|x+|\.+|null|none|true|false|undefined|password|changeme|example|redacted|secret|<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|%[A-Za-z_]+%?|\$[A-Za-z_]+)$/i;

function plausiblePassword(v: string): boolean {
  return !PLACEHOLDER_SHAPE.test(v) && !DUMMY_VALUE.test(v);
}

function decodesToUserPass(b64: string): boolean {
  const s = Buffer.from(b64, 'base64').toString('latin1');
  const i = s.indexOf(':');
  if (i < 1 || i === s.length - 1) return false;
  if (!/^[\x20-\x7e]+$/.test(s)) return false;
  return plausiblePassword(s.slice(i + 1));
}

/** A Discord token's first part is the base64 of the bot's numeric user id. */
function discordId(token: string): boolean {
  const first = token.slice(0, token.indexOf('.'));
  return /^[0-9]{15,21}$/.test(Buffer.from(first, 'base64').toString('latin1'));
}

function jwtHeader(token: string): boolean {
  const head = Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('latin1');
  return /^\s*\{[\s\S]*"(?:alg|typ|kid)"/.test(head);
}

function mixedCharacters(v: string): boolean {
  return /[0-9]/.test(v) && /[a-z]/.test(v) && /[A-Z]/.test(v);
}

export const BUILTIN_PATTERNS: SecretPattern[] = [
  {
    name: 'anthropic',
    title: 'an Anthropic API key',
    regex: re(`${L}sk-ant-(?:api|admin|oat|ort|sid)[0-9]{2}-[A-Za-z0-9_-]{80,120}${R}`),
    trigger: 'anchor',
    anchors: ['sk-ant-'],
    reach: 140,
    allowedDomains: ['anthropic.com'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'openrouter',
    title: 'an OpenRouter API key',
    regex: re(`${L}sk-or-v1-[a-f0-9]{64}${R}`),
    trigger: 'anchor',
    anchors: ['sk-or-'],
    reach: 80,
    allowedDomains: ['openrouter.ai'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'openai',
    title: 'an OpenAI API key',
    regex: re(
      `${L}sk-(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,200}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|[A-Za-z0-9]{48})${R}`,
    ),
    trigger: 'anchor',
    anchors: ['sk-'],
    reach: 220,
    allowedDomains: ['openai.com'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'perplexity',
    title: 'a Perplexity API key',
    regex: re(`${L}pplx-[A-Za-z0-9]{40,64}${R}`),
    trigger: 'anchor',
    anchors: ['pplx-'],
    reach: 72,
    allowedDomains: ['perplexity.ai'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'aws-access-key-id',
    title: 'an AWS access key id',
    regex: re(`${L}(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])`),
    trigger: 'anchor',
    anchors: ['AKIA', 'ASIA', 'ABIA', 'ACCA'],
    reach: 24,
    allowedDomains: ['amazonaws.com', 'amazonaws.com.cn', 'aws.amazon.com', 'api.aws'],
    severity: 'high',
    action: 'block',
  },
  {
    name: 'aws-secret-access-key',
    title: 'an AWS secret access key',
    regex: re(
      `(?:aws_?secret_?access_?key|secret_?access_?key|secretaccesskey|aws_?secret_?key)["'\\\\]{0,2}\\s*[:=]\\s*["'\\\\]{0,2}([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])`,
      'i',
    ),
    trigger: 'lookback',
    anchors: [],
    lookback: { over: 'base64', min: 40, max: 40, before: 64, marker: /secret/i },
    reach: 80,
    allowedDomains: [],
    severity: 'critical',
    action: 'block',
    verify: (v) => /[A-Z]/.test(v) && /[a-z]/.test(v) && /[0-9/+]/.test(v),
  },
  {
    name: 'github-token',
    title: 'a GitHub token',
    regex: re(`${L}gh[pousr]_[A-Za-z0-9]{36}(?![A-Za-z0-9_])`),
    trigger: 'anchor',
    anchors: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'],
    reach: 44,
    allowedDomains: ['github.com', 'githubusercontent.com', 'ghcr.io'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'github-fine-grained-token',
    title: 'a GitHub fine-grained token',
    regex: re(`${L}github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}${R}`),
    trigger: 'anchor',
    anchors: ['github_pat_'],
    reach: 96,
    allowedDomains: ['github.com', 'githubusercontent.com', 'ghcr.io'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'google-api-key',
    title: 'a Google API key',
    regex: re(`${L}AIza[0-9A-Za-z_-]{35}${R}`),
    trigger: 'anchor',
    anchors: ['AIza'],
    reach: 42,
    allowedDomains: ['googleapis.com', 'google.com', 'firebaseio.com'],
    severity: 'high',
    action: 'block',
  },
  {
    name: 'gcp-service-account',
    title: 'a GCP service-account key file',
    // Quotes may arrive JSON-escaped (a key file inside a JSON string).
    regex: re(`type\\\\?"\\s*:\\s*\\\\?"service_account`),
    trigger: 'full',
    anchors: [],
    reach: 0,
    allowedDomains: [],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'slack-token',
    title: 'a Slack token',
    regex: re(
      `${L}(?:xox[abposre](?:\\.xox[a-z])?-[0-9]{1,16}-[0-9A-Za-z-]{8,250}|xapp-[0-9]-[A-Z0-9]{6,}-[0-9]{6,}-[a-f0-9]{32,})`,
    ),
    trigger: 'anchor',
    anchors: ['xoxa-', 'xoxb-', 'xoxp-', 'xoxo-', 'xoxs-', 'xoxr-', 'xoxe', 'xapp-'],
    reach: 260,
    allowedDomains: ['slack.com'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'slack-webhook',
    title: 'a Slack webhook URL',
    regex: re(
      `hooks\\.slack\\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,}/[A-Z0-9]{6,}/[A-Za-z0-9]{20,}`,
    ),
    trigger: 'lookback',
    anchors: [],
    lookback: { over: 'word', min: 20, max: 40, before: 80, marker: /hooks\.slack\.com\// },
    reach: 120,
    allowedDomains: ['slack.com'],
    severity: 'high',
    action: 'block',
  },
  {
    name: 'stripe',
    title: 'a Stripe secret key',
    regex: re(
      `(?<![A-Za-z0-9])(?:(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,247}|whsec_[A-Za-z0-9]{32,})(?![A-Za-z0-9])`,
    ),
    trigger: 'anchor',
    anchors: ['sk_live_', 'sk_test_', 'rk_live_', 'rk_test_', 'whsec_'],
    reach: 260,
    allowedDomains: ['stripe.com'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'private-key',
    title: 'a PEM private key',
    regex: re(`-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----[^-]{0,200}?[A-Za-z0-9+/]{40}`),
    trigger: 'lookback',
    anchors: ['-----BEGIN '],
    reach: 300,
    lookback: { over: 'base64', min: 40, max: Infinity, before: 300, marker: /PRIVATE KEY/ },
    allowedDomains: [],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'gitlab-token',
    title: 'a GitLab token',
    regex: re(`${L}gl(?:pat|dt|rt|ptt|cbt|oas|soat|ft|imt|agent)-[0-9A-Za-z_-]{20,80}${R}`),
    trigger: 'anchor',
    anchors: [
      'glpat-',
      'gldt-',
      'glrt-',
      'glptt-',
      'glcbt-',
      'gloas-',
      'glsoat-',
      'glft-',
      'glimt-',
      'glagent-',
    ],
    reach: 96,
    allowedDomains: ['gitlab.com'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'huggingface-token',
    title: 'a Hugging Face token',
    regex: re(`${L}(?:hf_|api_org_)[A-Za-z0-9]{34}(?![A-Za-z0-9_])`),
    trigger: 'anchor',
    anchors: ['hf_', 'api_org_'],
    reach: 44,
    allowedDomains: ['huggingface.co', 'hf.co'],
    severity: 'critical',
    action: 'block',
    verify: mixedCharacters,
  },
  {
    name: 'databricks-token',
    title: 'a Databricks token',
    regex: re(`${L}dapi[a-f0-9]{32}(?:-[0-9])?(?![A-Za-z0-9])`),
    trigger: 'anchor',
    anchors: ['dapi'],
    reach: 40,
    allowedDomains: ['databricks.com', 'azuredatabricks.net', 'databricks.net'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'jwt',
    title: 'a JSON Web Token',
    regex: re(`${L}eyJ[A-Za-z0-9_-]{10,}\\.[A-Za-z0-9_-]{10,}\\.[A-Za-z0-9_-]{16,}${R}`),
    trigger: 'anchor',
    anchors: ['eyJ'],
    reach: 4096,
    allowedDomains: [],
    severity: 'medium',
    action: 'flag',
    verify: jwtHeader,
  },
  {
    name: 'brave-search-key',
    title: 'a Brave Search API key',
    regex: re(`${L}BSA[A-Za-z0-9_-]{25,37}${R}`),
    trigger: 'anchor',
    anchors: ['BSA'],
    reach: 42,
    allowedDomains: ['brave.com'],
    severity: 'high',
    action: 'block',
    verify: (v) => /[0-9]/.test(v) && /[a-z]/.test(v),
  },
  {
    name: 'telegram-bot-token',
    title: 'a Telegram bot token',
    regex: re(`(?<![0-9])[0-9]{8,10}:AA[A-Za-z0-9_-]{33}${R}`),
    trigger: 'anchor',
    anchors: ['AA'],
    reach: 40,
    back: 12,
    allowedDomains: ['telegram.org'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'discord-bot-token',
    title: 'a Discord bot token',
    regex: re(`${L}[MNO][A-Za-z0-9_-]{23,27}\\.[A-Za-z0-9_-]{6}\\.[A-Za-z0-9_-]{27,40}${R}`),
    trigger: 'anchor',
    anchors: ['MT', 'Mj', 'Mz', 'ND', 'NT', 'Nj', 'Nz', 'OD', 'OT'],
    reach: 80,
    allowedDomains: ['discord.com', 'discordapp.com'],
    severity: 'critical',
    action: 'block',
    verify: discordId,
  },
  {
    name: 'discord-webhook',
    title: 'a Discord webhook URL',
    regex: re(`/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,68}${R}`),
    trigger: 'lookback',
    anchors: [],
    lookback: { over: 'word', min: 60, max: 68, before: 40, marker: /webhooks\// },
    reach: 100,
    allowedDomains: ['discord.com', 'discordapp.com'],
    severity: 'high',
    action: 'block',
  },
  {
    name: 'firecrawl',
    title: 'a Firecrawl API key',
    regex: re(`${L}fc-[a-f0-9]{32}${R}`),
    trigger: 'anchor',
    anchors: ['fc-'],
    reach: 36,
    allowedDomains: ['firecrawl.dev'],
    severity: 'high',
    action: 'block',
  },
  {
    name: 'npm-token',
    title: 'an npm access token',
    regex: re(`${L}npm_[A-Za-z0-9]{36}(?![A-Za-z0-9_])`),
    trigger: 'anchor',
    anchors: ['npm_'],
    reach: 40,
    allowedDomains: ['npmjs.org', 'npmjs.com'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'pypi-token',
    title: 'a PyPI API token',
    regex: re(`${L}pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,}`),
    trigger: 'anchor',
    anchors: ['pypi-Ag'],
    reach: 400,
    allowedDomains: ['pypi.org'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'sendgrid',
    title: 'a SendGrid API key',
    regex: re(`${L}SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}${R}`),
    trigger: 'lookback',
    anchors: [],
    lookback: { over: 'word', min: 43, max: 43, before: 30, marker: /SG\./ },
    reach: 72,
    allowedDomains: ['sendgrid.com', 'sendgrid.net'],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'twilio-api-key',
    title: 'a Twilio API key',
    regex: re(`${L}SK[0-9a-f]{32}(?![A-Za-z0-9])`),
    trigger: 'anchor',
    anchors: ['SK'],
    reach: 36,
    allowedDomains: ['twilio.com'],
    severity: 'high',
    action: 'block',
  },
  {
    name: 'azure-storage-key',
    title: 'an Azure storage account key',
    regex: re(`AccountKey=([A-Za-z0-9+/]{80,90}={0,2})`),
    trigger: 'lookback',
    anchors: [],
    lookback: { over: 'base64', min: 80, max: 92, before: 12, marker: /AccountKey=/ },
    reach: 104,
    allowedDomains: [],
    severity: 'critical',
    action: 'block',
  },
  {
    name: 'password-assignment',
    title: 'a password',
    regex: re(
      `(?<![A-Za-z0-9])(?:password|passwd|passphrase|pwd)["'\\\\]{0,2}\\s*[:=]\\s*["'\\\\]{0,2}([^\\s"'&;,<>{}\\\\]{6,128})`,
      'i',
    ),
    trigger: 'full',
    anchors: caseVariants('password', 'passwd', 'passphrase', 'pwd'),
    reach: 160,
    allowedDomains: [],
    severity: 'medium',
    action: 'flag',
    verify: plausiblePassword,
  },
  {
    name: 'basic-auth',
    title: 'HTTP Basic credentials',
    regex: re(`(?<![A-Za-z0-9_])Basic\\s+([A-Za-z0-9+/]{8,}={0,2})`),
    trigger: 'full',
    anchors: ['Basic '],
    reach: 300,
    allowedDomains: [],
    severity: 'medium',
    action: 'flag',
    verify: decodesToUserPass,
  },
  {
    name: 'url-credentials',
    title: 'credentials in a URL',
    // Starts with the literal "://" so the regex engine can skip to it.
    regex: re(`://[^/\\s:@"'<>]{1,64}:([^/\\s@"'<>]{3,128})@[A-Za-z0-9.-]`),
    trigger: 'full',
    anchors: ['://'],
    reach: 240,
    allowedDomains: [],
    severity: 'medium',
    action: 'flag',
    verify: plausiblePassword,
  },
];
