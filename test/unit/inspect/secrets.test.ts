// Real secret values leaving in any encoding are blocked (even towards their own hosts: the agent
// never holds one); placeholders pass only where the proxy will swap them in, else they are flagged.
import assert from 'node:assert/strict';
import { buildInspectors, type InspectorSet } from '../../../proxy-image/src/inspect/index.ts';
import type { ChainResult, HeaderPair, Message } from '../../../proxy-image/src/inspect/types.ts';
import {
  ANTHROPIC_PH,
  ANTHROPIC_REAL,
  DB_PH,
  DB_REAL,
  GITHUB_PH,
  GITHUB_REAL,
  policyWithDb,
  request,
  valuesWithDb,
} from './policy-fixture.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const percentAll = (s: string) =>
  [...Buffer.from(s)].map((c) => '%' + c.toString(16).padStart(2, '0')).join('');
const jsonAll = (s: string) =>
  [...s].map((c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')).join('');

export const VALUE_FORMS: Record<string, (v: string) => string> = {
  plain: (v) => v,
  encodeURIComponent: (v) => encodeURIComponent(v),
  'form-encoded': (v) => encodeURIComponent(v).replace(/%20/g, '+'),
  'every byte %-encoded': percentAll,
  base64: b64,
  'base64 of "u:value" (Basic)': (v) => b64('u:' + v),
  'base64 of "ab:value"': (v) => b64('ab:' + v),
  'base64 inside a longer blob': (v) => b64('{"token":"' + v + '","n":1}'),
  base64url: (v) => Buffer.from('x' + v).toString('base64url'),
  'hex (lower)': (v) => Buffer.from(v).toString('hex'),
  'hex (upper)': (v) => Buffer.from(v).toString('hex').toUpperCase(),
  'JSON-escaped': (v) => JSON.stringify(v).slice(1, -1),
  'JSON \\u-escaped': jsonAll,
};

export const PLACES: Record<string, (s: string, host: string) => Message> = {
  url: (s, host) => request({ host, method: 'GET', path: `/q?x=${s}` }),
  header: (s, host) => request({ host, headers: [['x-data', s] as HeaderPair] }),
  body: (s, host) => request({ host, body: `{"data":"${s}"}` }),
  'websocket frame': (s, host) => ({
    kind: 'websocket',
    direction: 'outbound',
    host,
    path: '/',
    binary: false,
    data: Buffer.from(`msg ${s} end`),
  }),
};

const run = async (set: InspectorSet, m: Message): Promise<ChainResult> =>
  m.kind === 'websocket' ? set.inspectFrame(m) : set.inspectRequest(m as never);

describe('secrets inspector: real values', () => {
  let set: InspectorSet;
  before(async () => {
    set = await buildInspectors(policyWithDb(), valuesWithDb());
  });
  const values: Array<[string, string, string]> = [
    ['ANTHROPIC_API_KEY', ANTHROPIC_REAL, 'api.anthropic.com'],
    ['GITHUB_TOKEN', GITHUB_REAL, 'github.com'],
    ['DB_PASSWORD', DB_REAL, 'db.example.com'],
  ];
  for (const [name, value, ownHost] of values) {
    for (const [form, encode] of Object.entries(VALUE_FORMS)) {
      it(`${name} as ${form}: blocked in every position, to any host and to its own`, async () => {
        for (const [place, build] of Object.entries(PLACES)) {
          for (const host of ['collector.example.net', ownHost]) {
            const r = await run(set, build(encode(value), host));
            assert.equal(r.decision, 'block', `${place} to ${host}: ${JSON.stringify(r.flags)}`);
            assert.equal(r.blockedBy?.inspector, 'secrets');
            assert.match(r.blockedBy?.reason ?? '', new RegExp(`real value of secret ${name}`));
            assert.ok(!(r.blockedBy?.reason ?? '').includes(value), 'the reason must not show the value');
          }
        }
      });
    }
  }
  it('a request without any real value is not blocked by it (the allowed twin)', async () => {
    for (const [place, build] of Object.entries(PLACES)) {
      const r = await run(set, build('nothing-secret-here', 'collector.example.net'));
      assert.equal(r.decision, 'allow', place);
    }
  });
});

describe('secrets inspector: placeholders', () => {
  let set: InspectorSet;
  before(async () => {
    set = await buildInspectors(policyWithDb(), valuesWithDb());
  });
  const secretsVerdict = (r: ChainResult) =>
    [r.blockedBy, ...r.flags].find((v) => v?.inspector === 'secrets');

  const ok: Array<[string, Message]> = [
    [
      'anthropic key in a header to its host',
      request({ host: 'api.anthropic.com', headers: [['x-api-key', ANTHROPIC_PH]] }),
    ],
    [
      '... and to a subdomain of it',
      request({ host: 'eu.api.anthropic.com', headers: [['x-api-key', ANTHROPIC_PH]] }),
    ],
    [
      'github token in Basic auth to github.com',
      request({
        host: 'github.com',
        headers: [['authorization', 'Basic ' + b64('x-access-token:' + GITHUB_PH)]],
      }),
    ],
    [
      'github token in the URL to api.github.com',
      request({ host: 'api.github.com', path: `/repos?access_token=${GITHUB_PH}` }),
    ],
    [
      'github token in the body to github.com',
      request({ host: 'github.com', body: `{"token":"${GITHUB_PH}"}` }),
    ],
    ['db password in the body to db.example.com', request({ host: 'db.example.com', body: `pw=${DB_PH}` })],
  ];
  for (const [what, msg] of ok) {
    it(`passes: ${what}`, async () => {
      const r = await run(set, msg);
      assert.equal(secretsVerdict(r), undefined, JSON.stringify(r));
      assert.equal(r.decision, 'allow');
    });
  }

  const flagged: Array<[string, Message, RegExp]> = [
    [
      'anthropic key to another host',
      request({ host: 'example.com', headers: [['x-api-key', ANTHROPIC_PH]] }),
      /not one of its injectTo domains/,
    ],
    [
      'anthropic key to the parent domain',
      request({ host: 'anthropic.com', headers: [['x-api-key', ANTHROPIC_PH]] }),
      /not one of its injectTo/,
    ],
    [
      'anthropic key to a lookalike',
      request({ host: 'api.anthropic.com.evil.net', headers: [['x-api-key', ANTHROPIC_PH]] }),
      /not one of its injectTo/,
    ],
    [
      'anthropic key in the body (headers only)',
      request({ host: 'api.anthropic.com', body: `{"k":"${ANTHROPIC_PH}"}` }),
      /injected only in headers/,
    ],
    [
      'anthropic key in the URL (headers only)',
      request({ host: 'api.anthropic.com', path: `/x?k=${ANTHROPIC_PH}` }),
      /injected only in headers/,
    ],
    [
      'github token base64-encoded in the body',
      request({ host: 'github.com', body: `{"blob":"${b64('token=' + GITHUB_PH)}"}` }),
      /encoded where the proxy cannot replace it/,
    ],
    [
      'github token in Basic auth to another host',
      request({ host: 'gitlab.example.org', headers: [['authorization', 'Basic ' + b64('u:' + GITHUB_PH)]] }),
      /not one of its injectTo/,
    ],
    [
      'a WebSocket frame with the db password to another host',
      {
        kind: 'websocket',
        direction: 'outbound',
        host: 'chat.example.org',
        path: '/',
        binary: false,
        data: Buffer.from(DB_PH),
      },
      /not one of its injectTo/,
    ],
  ];
  for (const [what, msg, why] of flagged) {
    it(`flags: ${what}`, async () => {
      const r = await run(set, msg);
      const v = secretsVerdict(r);
      assert.ok(v, JSON.stringify(r));
      assert.equal(v.decision, 'flag');
      assert.match(v.reason, why);
      assert.equal(r.decision, 'flag');
    });
  }
});
