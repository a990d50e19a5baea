// The chain and the domain inspector: fixed order, first block stops it, flags collected, a throwing
// or hanging inspector blocks; custom inspectors are real module files loaded only from their dir.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChain } from '../../../proxy-image/src/inspect/chain.ts';
import { buildInspectors } from '../../../proxy-image/src/inspect/index.ts';
import type { Inspector, Verdict } from '../../../proxy-image/src/inspect/types.ts';
import { request, testPolicy, testValues } from './policy-fixture.ts';

const NOW = Date.parse('2026-06-01T00:00:00Z');

describe('domain inspector', () => {
  const allow = (rules: Array<{ domain: string; expiresAt?: string }>, ports = [80, 443]) =>
    buildInspectors(
      testPolicy({ egress: { mode: 'allowlist', rules, passthrough: [], ports }, secrets: [] }),
      new Map(),
    );

  it('allowlist: a domain and its subdomains pass; lookalikes and others are blocked', async () => {
    const set = await allow([{ domain: 'github.com' }]);
    for (const host of ['github.com', 'api.github.com', 'a.b.github.com', 'GitHub.com.'])
      assert.equal((await set.inspectRequest(request({ host }), NOW)).decision, 'allow', host);
    for (const host of ['evilgithub.com', 'github.com.evil.net', 'githubusercontent.com', 'com']) {
      const r = await set.inspectRequest(request({ host }), NOW);
      assert.equal(r.blockedBy?.inspector, 'domain', host);
      assert.match(r.blockedBy?.reason ?? '', /not on this cage's egress allowlist/);
    }
  });

  it('an empty allowlist blocks everything, and says so', async () => {
    const set = await allow([]);
    const r = await set.inspectRequest(request({ host: 'example.com' }), NOW);
    assert.match(r.blockedBy?.reason ?? '', /allowlist is empty/);
    assert.equal(set.inspectDns({ kind: 'dns', name: 'example.com', qtype: 'A' }, NOW).decision, 'block');
  });

  it('entries expire: allowed before expiresAt, blocked after (time comes from `now`)', async () => {
    const set = await allow([{ domain: 'pypi.org', expiresAt: '2026-06-01T12:00:00Z' }]);
    assert.equal((await set.inspectRequest(request({ host: 'pypi.org' }), NOW)).decision, 'allow');
    const later = await set.inspectRequest(request({ host: 'pypi.org' }), NOW + 13 * 3600_000);
    assert.match(later.blockedBy?.reason ?? '', /was allowed until 2026-06-01T12:00:00.000Z .*expired/);
  });

  it('blocklist: listed domains and subdomains are blocked, others pass, an expired entry no longer blocks', async () => {
    const set = await buildInspectors(
      testPolicy({
        egress: {
          mode: 'blocklist',
          rules: [{ domain: 'pastebin.com' }, { domain: 'transfer.sh', expiresAt: '2026-01-01T00:00:00Z' }],
          passthrough: [],
          ports: [443],
        },
        secrets: [],
      }),
      new Map(),
    );
    const r = await set.inspectRequest(request({ host: 'eu.pastebin.com' }), NOW);
    assert.match(
      r.blockedBy?.reason ?? '',
      /eu\.pastebin\.com is on this cage's egress blocklist \(entry "pastebin\.com"\)/,
    );
    assert.equal((await set.inspectRequest(request({ host: 'example.com' }), NOW)).decision, 'allow');
    assert.equal((await set.inspectRequest(request({ host: 'transfer.sh' }), NOW)).decision, 'allow');
  });

  it('ports outside egress.ports are blocked', async () => {
    const set = await allow([{ domain: 'example.com' }], [443]);
    assert.equal((await set.inspectRequest(request({ port: 443 }), NOW)).decision, 'allow');
    const r = await set.inspectRequest(request({ port: 8080 }), NOW);
    assert.match(r.blockedBy?.reason ?? '', /port 8080 is not one of this cage's egress ports \(443\)/);
  });

  it('a malformed expiresAt refuses to build, naming the field', async () => {
    await assert.rejects(
      allow([{ domain: 'x.com', expiresAt: 'tomorrow' }]),
      /egress\.rules\[0\]\.expiresAt/,
    );
  });
});

describe('chain', () => {
  const v = (name: string, decision: Verdict['decision']): Inspector => ({
    name,
    inspect: () => ({ decision, inspector: name, reason: `${name} says ${decision}`, severity: 'low' }),
  });
  const ctx = { policy: testPolicy(), now: NOW };

  it('runs in order, collects flags and stops at the first block', async () => {
    const seen: string[] = [];
    const spy = (i: Inspector): Inspector => ({
      name: i.name,
      inspect: (m, c) => (seen.push(i.name), i.inspect(m, c)),
    });
    const r = await runChain(
      [spy(v('a', 'allow')), spy(v('b', 'flag')), spy(v('c', 'block')), spy(v('d', 'flag'))],
      request(),
      ctx,
    );
    assert.deepEqual(seen, ['a', 'b', 'c']);
    assert.equal(r.decision, 'block');
    assert.equal(r.blockedBy?.inspector, 'c');
    assert.deepEqual(
      r.flags.map((f) => f.inspector),
      ['b'],
    );
    assert.deepEqual(
      r.timings.map(([n]) => n),
      ['a', 'b', 'c'],
    );
  });

  it('a throwing, hanging or nonsense inspector blocks (fail closed); the allowed twin passes', async () => {
    const throws: Inspector = {
      name: 't',
      inspect: () => {
        throw new Error('boom');
      },
    };
    const hangs: Inspector = { name: 'h', inspect: () => new Promise(() => undefined) };
    const nonsense: Inspector = { name: 'n', inspect: () => ({ decision: 'maybe' }) as never };
    const rejects: Inspector = { name: 'r', inspect: () => Promise.reject(new Error('nope')) };
    for (const [bad, why] of [
      [throws, /failed: boom/],
      [hangs, /did not answer within 50 ms/],
      [nonsense, /not a verdict/],
      [rejects, /failed: nope/],
    ] as const) {
      const r = await runChain([bad, v('after', 'flag')], request(), ctx, { asyncTimeoutMs: 50 });
      assert.equal(r.decision, 'block');
      assert.match(r.blockedBy?.reason ?? '', why);
      assert.match(r.blockedBy?.reason ?? '', /fail closed/);
    }
    assert.equal((await runChain([v('fine', 'allow')], request(), ctx)).decision, 'allow');
  });

  it("the built chain has the issue's order", async () => {
    const set = await buildInspectors(testPolicy(), testValues());
    assert.deepEqual(set.names, ['domain', 'secrets', 'bodySize', 'entropy', 'contentType', 'base64']);
  });
});

describe('custom inspectors', () => {
  let root: string;
  let dir: string;
  const policyWith = (modules: string[]) =>
    testPolicy({
      inspectors: { custom: { dir, modules } },
      egress: { mode: 'blocklist', rules: [], passthrough: [], ports: [443] },
    });

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'agentcage-custom-'));
    dir = join(root, 'inspectors');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'no-pii.mjs'),
      `export default { name: 'no-pii', inspect(msg) {
        if (msg.kind === 'request' && /\\b\\d{3}-\\d{2}-\\d{4}\\b/.test(msg.body.toString()))
          return { decision: 'block', inspector: 'x', reason: 'the body holds a US social security number', severity: 'high' };
      } };\n`,
    );
    writeFileSync(
      join(dir, 'factory.mjs'),
      `export default async ({ policy }) => ({ name: 'cage-' + policy.cage, async inspect(msg) {
        if (msg.kind === 'request' && msg.method === 'DELETE') return { decision: 'flag', inspector: 'x', reason: 'a DELETE', severity: 'low' };
      } });\n`,
    );
    writeFileSync(
      join(dir, 'thrower.mjs'),
      `export default { name: 'thrower', inspect() { throw new Error('bug in custom code'); } };\n`,
    );
    writeFileSync(join(dir, 'not-an-inspector.mjs'), `export default 42;\n`);
    writeFileSync(join(root, 'outside.mjs'), `export default { name: 'outside', inspect() {} };\n`);
    symlinkSync(join(root, 'outside.mjs'), join(dir, 'escape.mjs'));
    symlinkSync(join(dir, 'no-pii.mjs'), join(dir, 'alias.mjs'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a module exporting an inspector runs last in the chain and can block', async () => {
    const set = await buildInspectors(policyWith(['no-pii.mjs']), testValues());
    assert.equal(set.names.at(-1), 'custom:no-pii');
    const r = await set.inspectRequest(request({ body: '{"ssn":"123-45-6789"}' }));
    assert.equal(r.blockedBy?.inspector, 'custom:no-pii');
    assert.match(r.blockedBy?.reason ?? '', /social security/);
    assert.equal((await set.inspectRequest(request({ body: '{"ssn":"none"}' }))).decision, 'allow');
  });

  it('a factory export gets the policy; async verdicts work; a symlink inside the dir is fine', async () => {
    const set = await buildInspectors(policyWith(['factory.mjs', 'alias.mjs']), testValues());
    assert.deepEqual(set.names.slice(-2), ['custom:cage-test', 'custom:no-pii']);
    const r = await set.inspectRequest(request({ method: 'DELETE' }));
    assert.equal(r.decision, 'flag');
    assert.equal(r.flags[0].inspector, 'custom:cage-test');
  });

  it('a custom inspector that throws blocks the request', async () => {
    const set = await buildInspectors(policyWith(['thrower.mjs']), testValues());
    const r = await set.inspectRequest(request());
    assert.equal(r.blockedBy?.inspector, 'custom:thrower');
    assert.match(r.blockedBy?.reason ?? '', /bug in custom code.*fail closed/);
  });

  it('refuses paths outside the directory, symlinks that escape it, and bad exports', async () => {
    await assert.rejects(buildInspectors(policyWith(['escape.mjs']), testValues()), /outside .*refused/);
    await assert.rejects(buildInspectors(policyWith(['missing.mjs']), testValues()), /does not exist/);
    await assert.rejects(
      buildInspectors(policyWith(['not-an-inspector.mjs']), testValues()),
      /must default-export an inspector/,
    );
    for (const bad of ['../outside.mjs', join(root, 'outside.mjs'), '..', 'sub/x.mjs']) {
      // The schema already refuses these names; the loader refuses them again on its own.
      const p = policyWith([]);
      p.inspectors.custom.modules = [bad];
      await assert.rejects(buildInspectors(p, testValues()), /plain file name|JavaScript module name/, bad);
    }
  });
});
