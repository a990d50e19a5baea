// A parsed proxy policy for inspector tests: schema defaults plus what each test overrides.
import { parsePolicy, type ProxyPolicy, type ProxyPolicyInput } from '../../../operator/api/policy.ts';
import type { HeaderPair, RequestMessage } from '../../../proxy-image/src/inspect/types.ts';

export const ANTHROPIC_PH = 'agentcage-ph-' + 'a1'.repeat(16);
export const GITHUB_PH = 'agentcage-ph-' + 'b2'.repeat(16);
export const ANTHROPIC_REAL = 'sk-ant-api03-' + 'Q'.repeat(20) + 'x7Yz'.repeat(18) + 'AA';
export const GITHUB_REAL = 'ghp_' + 'R2d2C3po'.repeat(4) + 'Zz9Y';

export function testPolicy(over: Partial<ProxyPolicyInput> = {}): ProxyPolicy {
  return parsePolicy({
    version: 1,
    cage: 'test',
    mode: 'explicit',
    egress: {
      mode: 'allowlist',
      rules: [
        { domain: 'anthropic.com' },
        { domain: 'github.com' },
        { domain: 'example.com' },
        { domain: 'amazonaws.com' },
        { domain: 'pypi.org' },
        { domain: 'npmjs.org' },
      ],
      passthrough: [],
      ports: [80, 443],
    },
    secrets: [
      {
        name: 'ANTHROPIC_API_KEY',
        placeholder: ANTHROPIC_PH,
        valueFrom: { env: 'ANTHROPIC_API_KEY' },
        injectTo: ['api.anthropic.com'],
        injectIn: ['headers'],
      },
      {
        name: 'GITHUB_TOKEN',
        placeholder: GITHUB_PH,
        valueFrom: { env: 'GITHUB_TOKEN' },
        injectTo: ['github.com'],
        injectIn: ['headers', 'url', 'body', 'websocket'],
      },
    ],
    inspectors: {},
    rateLimit: {},
    logging: {},
    capture: {},
    ...over,
  });
}

export const testValues = () =>
  new Map([
    ['ANTHROPIC_API_KEY', ANTHROPIC_REAL],
    ['GITHUB_TOKEN', GITHUB_REAL],
  ]);

export function request(
  over: Partial<Omit<RequestMessage, 'body'>> & { body?: Buffer | string } = {},
): RequestMessage {
  const body = over.body === undefined ? Buffer.alloc(0) : Buffer.from(over.body);
  return {
    kind: 'request',
    method: 'POST',
    scheme: 'https',
    host: 'example.com',
    port: 443,
    path: '/',
    headers: [['content-type', 'application/json']] as HeaderPair[],
    ...over,
    body,
  };
}

/** The test policy in blocklist mode (every host reachable) plus a body-only secret with awkward characters. */
export const DB_PH = 'agentcage-ph-' + 'e5'.repeat(16);
export const DB_REAL = 'Zx9!p@ss w0rd/+"q"\\end';

export function policyWithDb() {
  const p = testPolicy({ egress: { mode: 'blocklist', rules: [], passthrough: [], ports: [80, 443] } });
  p.secrets.push({
    name: 'DB_PASSWORD',
    placeholder: DB_PH,
    valueFrom: { env: 'DB_PASSWORD' },
    injectTo: ['db.example.com'],
    injectIn: ['body'],
  });
  return p;
}
export const valuesWithDb = () => new Map([...testValues(), ['DB_PASSWORD', DB_REAL]]);
