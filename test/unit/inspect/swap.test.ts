// The secret swap: placeholders become real values only towards the secret's own hosts and only
// where its injectIn allows; every real value (also encoded) becomes its placeholder on the way in,
// also when it is split across chunks. Property tests place values and placeholders at random.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildInspectors, type InspectorSet } from '../../../proxy-image/src/inspect/index.ts';
import { encodedForms } from '../../../proxy-image/src/inspect/encodings.ts';
import type { HeaderPair } from '../../../proxy-image/src/inspect/types.ts';
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
const REALS = [ANTHROPIC_REAL, GITHUB_REAL, DB_REAL];
/** Every form of every real value the redactor promises to remove (base64 at all alignments too). */
const FORBIDDEN = REALS.flatMap((v) => encodedForms(v).map(([, s]) => s));

function assertClean(out: string, what: string) {
  for (const f of FORBIDDEN)
    assert.ok(!out.includes(f), `${what}: still holds a form of a real value (${f.slice(0, 6)}…)`);
}

describe('secret swap: injection', () => {
  let set: InspectorSet;
  before(async () => {
    set = await buildInspectors(policyWithDb(), valuesWithDb());
  });

  it('puts the real value in a header only for the secret’s own host and its subdomains', () => {
    const headers: HeaderPair[] = [
      ['x-api-key', ANTHROPIC_PH],
      ['accept', 'application/json'],
    ];
    const own = set.swap.injectHead('api.anthropic.com', '/v1/messages', headers);
    assert.deepEqual(own.headers[0], ['x-api-key', ANTHROPIC_REAL]);
    assert.deepEqual(own.injected, ['ANTHROPIC_API_KEY']);
    assert.deepEqual(headers[0], ['x-api-key', ANTHROPIC_PH], 'the input is not modified');
    assert.equal(set.swap.injectHead('eu.api.anthropic.com', '/', headers).headers[0][1], ANTHROPIC_REAL);
    for (const other of [
      'example.com',
      'anthropic.com',
      'api.anthropic.com.evil.net',
      'evilapi.anthropic.com',
    ]) {
      const r = set.swap.injectHead(other, '/', headers);
      assert.equal(r.headers[0][1], ANTHROPIC_PH, other);
      assert.deepEqual(r.injected, [], other);
    }
  });

  it('rewrites Basic auth: base64("user:placeholder") becomes base64("user:value")', () => {
    const r = set.swap.injectHead('github.com', '/org/repo.git/info/refs', [
      ['Authorization', 'Basic ' + b64('x-access-token:' + GITHUB_PH)],
    ]);
    assert.equal(r.headers[0][1], 'Basic ' + b64('x-access-token:' + GITHUB_REAL));
    assert.deepEqual(r.injected, ['GITHUB_TOKEN']);
    const elsewhere = set.swap.injectHead('gitlab.com', '/', [
      ['Authorization', 'Basic ' + b64('u:' + GITHUB_PH)],
    ]);
    assert.equal(elsewhere.headers[0][1], 'Basic ' + b64('u:' + GITHUB_PH));
  });

  it('injects in the URL, body and frames only where injectIn allows', () => {
    // GITHUB_TOKEN: headers, url, body, websocket. ANTHROPIC_API_KEY: headers only. DB_PASSWORD: body only.
    assert.equal(set.swap.injectHead('api.github.com', `/x?t=${GITHUB_PH}`, []).path, `/x?t=${GITHUB_REAL}`);
    assert.equal(
      set.swap.injectHead('api.anthropic.com', `/x?t=${ANTHROPIC_PH}`, []).path,
      `/x?t=${ANTHROPIC_PH}`,
    );
    assert.equal(
      set.swap.injectBody('github.com', Buffer.from(`a=${GITHUB_PH}&b=${GITHUB_PH}`)).body.toString(),
      `a=${GITHUB_REAL}&b=${GITHUB_REAL}`,
    );
    assert.equal(
      set.swap.injectBody('api.anthropic.com', Buffer.from(ANTHROPIC_PH)).body.toString(),
      ANTHROPIC_PH,
    );
    assert.equal(
      set.swap.injectBody('db.example.com', Buffer.from(`pw=${DB_PH}`)).body.toString(),
      `pw=${DB_REAL}`,
    );
    assert.deepEqual(set.swap.injectHead('db.example.com', '/', [['x', DB_PH]]).injected, []);
    assert.equal(set.swap.injectFrame('github.com', Buffer.from(GITHUB_PH)).data.toString(), GITHUB_REAL);
    assert.equal(set.swap.injectFrame('db.example.com', Buffer.from(DB_PH)).data.toString(), DB_PH);
  });

  it('URL injection percent-encodes a value that is not URL-safe', async () => {
    const p = policyWithDb();
    p.secrets[2].injectIn = ['url'];
    const s = await buildInspectors(p, valuesWithDb());
    assert.equal(
      s.swap.injectHead('db.example.com', `/login?pw=${DB_PH}`, []).path,
      `/login?pw=${encodeURIComponent(DB_REAL)}`,
    );
  });
});

describe('secret swap: redaction', () => {
  let set: InspectorSet;
  before(async () => {
    set = await buildInspectors(policyWithDb(), valuesWithDb());
  });

  it('redacts response headers back to placeholders', () => {
    const r = set.swap.redactHeaders([
      ['x-echo', `key ${ANTHROPIC_REAL}`],
      ['set-cookie', `t=${encodeURIComponent(DB_REAL)}`],
      ['content-type', 'text/plain'],
    ]);
    assert.deepEqual(r.headers[0], ['x-echo', `key ${ANTHROPIC_PH}`]);
    assert.deepEqual(r.headers[1], ['set-cookie', `t=${DB_PH}`]);
    assert.deepEqual(r.headers[2], ['content-type', 'text/plain']);
    assert.deepEqual(r.redacted.sort(), ['ANTHROPIC_API_KEY', 'DB_PASSWORD']);
  });

  it('redacts frames, including encoded forms (echoed Basic auth, JSON, hex)', () => {
    const echoed = JSON.stringify({
      headers: { Authorization: 'Basic ' + b64('x-access-token:' + GITHUB_REAL) },
      db: DB_REAL,
      hex: Buffer.from(ANTHROPIC_REAL).toString('hex'),
    });
    const r = set.swap.redactFrame(Buffer.from(echoed));
    const out = r.data.toString();
    assertClean(out, 'frame');
    const basic = JSON.parse(out).headers.Authorization.slice(6);
    assert.ok(
      !Buffer.from(basic, 'base64').toString('latin1').includes(GITHUB_REAL),
      'the Basic credential no longer decodes to the value',
    );
    assert.equal(JSON.parse(out).db, DB_PH);
    assert.deepEqual(r.redacted.sort(), ['ANTHROPIC_API_KEY', 'DB_PASSWORD', 'GITHUB_TOKEN']);
    assert.equal(set.swap.redactFrame(Buffer.from('nothing here')).data.toString(), 'nothing here');
  });

  it('the streaming redactor handles a value split at every possible chunk boundary', () => {
    const body = Buffer.from(
      `<p>${ANTHROPIC_REAL}</p>${encodeURIComponent(DB_REAL)}|${b64('u:' + GITHUB_REAL)}.`,
    );
    const whole = set.swap.redactFrame(body).data;
    for (let cut = 0; cut <= body.length; cut++) {
      const red = set.swap.createRedactor();
      const out = Buffer.concat([
        ...red.push(body.subarray(0, cut)),
        ...red.push(body.subarray(cut)),
        ...red.end(),
      ]);
      assert.ok(out.equals(whole), `split at ${cut}`);
      assert.equal(red.redacted.size, 3, `split at ${cut}`);
    }
    // Two cuts: every pair of boundaries through the first value.
    for (let a = 0; a < 60; a++) {
      for (let b = a; b < 60; b += 3) {
        const red = set.swap.createRedactor();
        const out = Buffer.concat([
          ...red.push(body.subarray(0, a)),
          ...red.push(body.subarray(a, b)),
          ...red.push(body.subarray(b)),
          ...red.end(),
        ]);
        assert.ok(out.equals(whole), `cuts at ${a}, ${b}`);
      }
    }
  });

  it('holds back less than the longest form of a value', () => {
    const red = set.swap.createRedactor();
    const chunk = Buffer.alloc(10_000, 'a');
    const out = Buffer.concat(red.push(chunk));
    const longest = Math.max(...FORBIDDEN.map((f) => Buffer.byteLength(f)));
    assert.ok(chunk.length - out.length < longest, `held back ${chunk.length - out.length} bytes`);
    assert.equal(Buffer.concat([out, ...red.end()]).length, chunk.length);
  });

  it('passes large clean chunks through as views, and still catches values across their edges', () => {
    const red = set.swap.createRedactor();
    const first = Buffer.alloc(64 * 1024, 'a');
    const second = Buffer.concat([Buffer.alloc(64 * 1024, 'b'), Buffer.from(ANTHROPIC_REAL.slice(0, 9))]);
    const third = Buffer.concat([Buffer.from(ANTHROPIC_REAL.slice(9)), Buffer.alloc(64 * 1024, 'c')]);
    const outs = [red.push(first), red.push(second), red.push(third), red.end()];
    // No copy of a 64 KiB chunk: what comes back for the clean ones shares their memory.
    assert.equal(outs[0].at(-1)!.buffer, first.buffer);
    assert.equal(outs[1].at(-1)!.buffer, second.buffer);
    const whole = Buffer.concat(outs.flat());
    const expected = set.swap.redactFrame(Buffer.concat([first, second, third])).data;
    assert.ok(whole.equals(expected));
    assert.ok(!whole.includes(ANTHROPIC_REAL) && red.redacted.size === 1);
  });
});

// ---- properties ----

const filler = fc.string({ unit: fc.constantFrom(...'abcXYZ019 <>{}":,/+=%\n'.split('')), maxLength: 40 });
const realForm = fc.constantFrom<(v: string) => string>(
  (v) => v,
  (v) => encodeURIComponent(v),
  (v) => JSON.stringify(v).slice(1, -1),
  (v) => b64(v),
  (v) => b64('u:' + v),
  (v) => b64('ab:' + v),
  (v) => Buffer.from(v).toString('hex'),
);

describe('secret swap: properties', () => {
  let set: InspectorSet;
  before(async () => {
    set = await buildInspectors(policyWithDb(), valuesWithDb());
  });

  it('nothing real reaches the agent: random bodies with values at random places, cut into random chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(filler, fc.constantFrom(...REALS), realForm), { minLength: 1, maxLength: 6 }),
        filler,
        fc.array(fc.nat(), { maxLength: 8 }),
        (parts, tail, cutSeeds) => {
          const body = Buffer.from(parts.map(([f, v, form]) => f + form(v)).join('') + tail);
          const cuts = [...new Set(cutSeeds.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
          const red = set.swap.createRedactor();
          const outs: Buffer[] = [];
          let last = 0;
          for (const c of cuts) {
            outs.push(...red.push(body.subarray(last, c)));
            last = c;
          }
          outs.push(...red.push(body.subarray(last)), ...red.end());
          const out = Buffer.concat(outs);
          assertClean(out.toString('latin1'), 'stream');
          assert.ok(out.equals(set.swap.redactFrame(body).data), 'streamed and whole agree');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('nothing real leaves except to its own hosts, and only where injectIn allows', async () => {
    const hosts = [
      'api.anthropic.com',
      'x.api.anthropic.com',
      'anthropic.com',
      'github.com',
      'api.github.com',
      'evilgithub.com',
      'github.com.evil.net',
      'db.example.com',
      'example.com',
    ];
    const own: Record<string, [string, string, string[]]> = {
      // placeholder, real, hosts where it may go
      ANTHROPIC_API_KEY: [ANTHROPIC_PH, ANTHROPIC_REAL, ['api.anthropic.com', 'x.api.anthropic.com']],
      GITHUB_TOKEN: [GITHUB_PH, GITHUB_REAL, ['github.com', 'api.github.com']],
      DB_PASSWORD: [DB_PH, DB_REAL, ['db.example.com']],
    };
    const allowedIn: Record<string, string[]> = {
      ANTHROPIC_API_KEY: ['headers'],
      GITHUB_TOKEN: ['headers', 'url', 'body', 'websocket'],
      DB_PASSWORD: ['body'],
    };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...hosts),
        fc.array(
          fc.tuple(
            filler,
            fc.constantFrom(...Object.keys(own)),
            fc.constantFrom('headers', 'url', 'body', 'websocket'),
          ),
          { minLength: 1, maxLength: 5 },
        ),
        async (host, uses) => {
          let path = '/p?';
          const headers: HeaderPair[] = [];
          let body = '';
          let frame = '';
          for (const [f, name, where] of uses) {
            const ph = own[name][0];
            if (where === 'headers') headers.push(['x-' + headers.length, f.replace(/\n/g, '') + ph]);
            else if (where === 'url') path += encodeURIComponent(f) + ph;
            else if (where === 'body') body += f + ph;
            else frame += f + ph;
          }
          // The chain never blocks an agent's own placeholders.
          const verdict = await set.inspectRequest(request({ host, path, headers, body }));
          assert.notEqual(verdict.decision, 'block', JSON.stringify(verdict.blockedBy));
          const head = set.swap.injectHead(host, path, headers);
          const sent: Record<string, string> = {
            headers: head.headers.map(([n, v]) => `${n}: ${v}`).join('\n'),
            url: head.path,
            body: set.swap.injectBody(host, Buffer.from(body)).body.toString(),
            websocket: set.swap.injectFrame(host, Buffer.from(frame)).data.toString(),
          };
          for (const [name, [ph, real, mine]] of Object.entries(own)) {
            for (const where of ['headers', 'url', 'body', 'websocket']) {
              const may = mine.includes(host) && allowedIn[name].includes(where);
              const placed = uses.some(([, n, w]) => n === name && w === where);
              const text = sent[where];
              const leaked =
                text.includes(real) || (where === 'url' && text.includes(encodeURIComponent(real)));
              if (!may) assert.ok(!leaked, `${name} reached ${host} in ${where}`);
              if (may && placed)
                assert.ok(leaked && !text.includes(ph), `${name} was not injected for ${host} in ${where}`);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
