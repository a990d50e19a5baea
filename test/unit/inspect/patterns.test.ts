// Every built-in secret pattern: found (as itself, by the fast scanner and by the naive reference)
// and its near misses not found; then through the whole chain in every position and encoding.
import assert from 'node:assert/strict';
import { buildInspectors, type InspectorSet } from '../../../proxy-image/src/inspect/index.ts';
import { NaiveScanner } from '../../../proxy-image/src/inspect/naive-scanner.ts';
import { BUILTIN_PATTERNS } from '../../../proxy-image/src/inspect/patterns.ts';
import { SecretScanner } from '../../../proxy-image/src/inspect/scanner.ts';
import type { ChainResult, HeaderPair, Message } from '../../../proxy-image/src/inspect/types.ts';
import { SAMPLES } from '../../fixtures/secret-samples.ts';
import { request, testPolicy } from './policy-fixture.ts';

const fast = new SecretScanner(BUILTIN_PATTERNS);
const naive = new NaiveScanner(BUILTIN_PATTERNS);
const names = (fs: Array<{ name: string }>) => fs.map((f) => f.name);

/** Every byte as %XX: what a client that encodes everything sends. */
const percentAll = (s: string) =>
  [...Buffer.from(s)].map((c) => '%' + c.toString(16).padStart(2, '0')).join('');
/** Every character as \uXXXX inside a JSON string. */
const jsonAll = (s: string) =>
  [...s].map((c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')).join('');

export const ENCODINGS: Record<string, (s: string) => string> = {
  plain: (s) => s,
  'url-encoded': percentAll,
  base64: (s) => Buffer.from(s).toString('base64'),
  hex: (s) => Buffer.from(s).toString('hex'),
  'hex after a word prefix': (s) => 'data_' + Buffer.from(s).toString('hex'),
  'json-escaped': jsonAll,
};

// Where a string can sit in an outbound message (a multi-line sample keeps "\n" escaped on one line).
const oneLine = (s: string) => s.replace(/\n/g, '\\n');
export const POSITIONS: Record<string, (s: string, host: string) => Message> = {
  url: (s, host) => request({ host, method: 'GET', path: `/v1/items?note=${oneLine(s)}&page=2` }),
  header: (s, host) => request({ host, headers: [['x-note', oneLine(s)] as HeaderPair] }),
  body: (s, host) =>
    request({ host, body: JSON.stringify({ note: 'see below', data: s }).replace(/\\\\u/g, '\\u') }),
  'body in 1-byte chunks': (s, host) => {
    const whole = Buffer.from(`note=${s}&page=2`);
    const chunks = [...whole].map((c) => Buffer.from([c]));
    return request({ host, headers: [['content-type', 'text/plain']], body: Buffer.concat(chunks) });
  },
  'websocket frame': (s, host) => ({
    kind: 'websocket',
    direction: 'outbound',
    host,
    path: '/ws',
    binary: false,
    data: Buffer.from(`{"op":"send","text":"${s}"}`),
  }),
};

describe('secret patterns: each format and its near misses', () => {
  it('every built-in pattern has samples', () => {
    assert.deepEqual(SAMPLES.map((s) => s.pattern).sort(), BUILTIN_PATTERNS.map((p) => p.name).sort());
  });
  for (const s of SAMPLES) {
    it(`${s.pattern}: finds each example, in the fast scanner and the naive reference`, () => {
      for (const p of s.positives) {
        const text = `prefix "${p}" suffix`;
        assert.ok(
          names(fast.scan(text)).includes(s.pattern),
          `fast scanner missed ${s.pattern} in ${p.slice(0, 30)}`,
        );
        assert.ok(
          names(naive.scan(text)).includes(s.pattern),
          `naive scanner missed ${s.pattern} in ${p.slice(0, 30)}`,
        );
      }
    });
    it(`${s.pattern}: near misses are not findings`, () => {
      for (const n of s.negatives) {
        const text = `prefix "${n}" suffix`;
        assert.ok(
          !names(fast.scan(text)).includes(s.pattern),
          `fast scanner matched near miss ${n.slice(0, 40)}`,
        );
        assert.ok(
          !names(naive.scan(text)).includes(s.pattern),
          `naive scanner matched near miss ${n.slice(0, 40)}`,
        );
      }
    });
  }
});

function expectCaught(
  r: ChainResult,
  pattern: string,
  action: 'block' | 'flag',
  secret: string,
  where: string,
) {
  const v = action === 'block' ? r.blockedBy : r.flags.find((f) => f.inspector === 'secrets');
  assert.ok(v, `${where}: expected a ${action}, got ${r.decision} ${JSON.stringify(r.blockedBy ?? r.flags)}`);
  assert.equal(v.inspector, 'secrets', `${where}: ${v.reason}`);
  assert.match(v.reason, new RegExp(`\\[${pattern}\\]`), `${where}: ${v.reason}`);
  assert.ok(!v.reason.includes(secret.slice(4, 20)), `${where}: the reason shows the secret: ${v.reason}`);
}

describe('secret patterns through the chain: every position and encoding', () => {
  let set: InspectorSet;
  before(async () => {
    // A blocklist with no entries: every host is reachable, so only the secrets inspector decides.
    set = await buildInspectors(
      testPolicy({
        egress: { mode: 'blocklist', rules: [], passthrough: [], ports: [80, 443] },
        secrets: [],
      }),
      new Map(),
    );
  });
  for (const s of SAMPLES) {
    const pattern = BUILTIN_PATTERNS.find((p) => p.name === s.pattern);
    if (!pattern) continue;
    for (const [encName, encode] of Object.entries(ENCODINGS)) {
      it(`${s.pattern}, ${encName}: ${pattern.action}ed in the URL, a header, the body and a WebSocket frame`, async () => {
        for (const [posName, place] of Object.entries(POSITIONS))
          for (const secret of s.positives) {
            const msg = place(encode(secret), 'collector.example.net');
            const r =
              msg.kind === 'websocket' ? await set.inspectFrame(msg) : await set.inspectRequest(msg as never);
            expectCaught(r, s.pattern, pattern.action, secret, `${posName}/${encName}`);
          }
      });
    }
    if (s.legitHost) {
      it(`${s.pattern}: allowed to its own domain (${s.legitHost})`, async () => {
        for (const [posName, place] of Object.entries(POSITIONS)) {
          const msg = place(s.positives[0], s.legitHost as string);
          const r =
            msg.kind === 'websocket' ? await set.inspectFrame(msg) : await set.inspectRequest(msg as never);
          const hit = [r.blockedBy, ...r.flags].find(
            (v) => v?.inspector === 'secrets' && v.reason.includes(`[${s.pattern}]`),
          );
          assert.equal(hit, undefined, `${posName}: ${hit?.reason}`);
        }
      });
    }
  }
});
