// Malformed or hostile input never makes an inspector throw: a throw would block (fail closed), so
// an internal error would show up as a block "because inspector X failed" on harmless traffic.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildInspectors, type InspectorSet } from '../../../proxy-image/src/inspect/index.ts';
import type { ChainResult, HeaderPair } from '../../../proxy-image/src/inspect/types.ts';
import { policyWithDb, request, valuesWithDb } from './policy-fixture.ts';

const noInternalFailure = (r: ChainResult) =>
  assert.ok(!/failed: /.test(r.blockedBy?.reason ?? ''), `an inspector threw: ${r.blockedBy?.reason}`);

const text = fc.string({ unit: 'binary', maxLength: 200 });
const bytes = fc.uint8Array({ maxLength: 3000 });
const tokenish = fc.string({
  unit: fc.constantFrom(...'AKIAsk-ant_ghp%\\u/=+:.@ "0123456789abcdefXYZ'.split('')),
  maxLength: 300,
});

describe('inspectors on arbitrary input', () => {
  let set: InspectorSet;
  before(async () => {
    set = await buildInspectors(policyWithDb(), valuesWithDb());
  });

  it('requests with arbitrary hosts, paths, headers, bodies and content codings', async () => {
    await fc.assert(
      fc.asyncProperty(
        text,
        fc.oneof(text, tokenish),
        fc.array(fc.tuple(text, fc.oneof(text, tokenish)), { maxLength: 6 }),
        fc.oneof(
          bytes,
          tokenish.map((s) => Buffer.from(s)),
        ),
        fc.constantFrom('', 'gzip', 'br', 'deflate, gzip', 'identity', 'zstd'),
        fc.constantFrom(443, 443, 443, 80, 8080),
        async (host, path, headers, body, ce, port) => {
          const h: HeaderPair[] = headers.map(([n, v]) => [n, v]);
          if (ce) h.push(['content-encoding', ce]);
          const r = await set.inspectRequest(
            request({ host, path, port, headers: h, body: Buffer.from(body) }),
          );
          noInternalFailure(r);
          set.swap.injectHead(host, path, h);
          set.swap.injectBody(host, Buffer.from(body));
          set.swap.redactHeaders(h);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('frames, responses and DNS names', async () => {
    await fc.assert(
      fc.asyncProperty(
        text,
        fc.oneof(
          bytes,
          tokenish.map((s) => Buffer.from(s)),
        ),
        fc.boolean(),
        async (name, data, outbound) => {
          const f = await set.inspectFrame({
            kind: 'websocket',
            direction: outbound ? 'outbound' : 'inbound',
            host: name,
            path: '/',
            binary: !outbound,
            data: Buffer.from(data),
          });
          noInternalFailure(f);
          noInternalFailure(
            await set.inspectResponse({
              kind: 'response',
              host: name,
              status: 200,
              headers: [],
              body: Buffer.from(data),
            }),
          );
          noInternalFailure(set.inspectDns({ kind: 'dns', name, qtype: 'TXT' }));
          set.swap.redactFrame(Buffer.from(data));
        },
      ),
      { numRuns: 300 },
    );
  });
});
