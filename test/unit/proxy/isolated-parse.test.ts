// The policy schema check: same result and same errors as parsePolicy. Run from source it stays in
// this process (plain node cannot load TypeScript); the child check is tested on the built bundle
// in test/integration/proxy/operations.test.ts.
import assert from 'node:assert/strict';
import { parsePolicy, type ProxyPolicyInput } from '../../../operator/api/policy.ts';
import { ValidationError } from '../../../operator/api/validation.ts';
import { parsePolicyIsolated } from '../../../proxy-image/src/policy/isolated-parse.ts';

const doc: ProxyPolicyInput = {
  version: 1,
  cage: 'worker-check',
  mode: 'explicit',
  egress: { mode: 'allowlist', rules: [{ domain: 'example.com' }], passthrough: [], ports: [443] },
  secrets: [],
  inspectors: {},
  rateLimit: { enabled: true, requestsPerSecond: 10, burst: 20 },
  logging: {},
  capture: {},
  ssrf: {},
  upstream: {},
};

describe('policy check (parsePolicyIsolated)', function () {
  this.timeout(20000);

  it('gives the policy exactly as the schema reads it (defaults filled in)', async () => {
    const p = await parsePolicyIsolated(doc);
    assert.deepEqual(p, parsePolicy(doc));
    assert.equal(p.cage, 'worker-check');
  });

  it('an invalid policy gets the same ValidationError, naming the field, as in-process', async () => {
    const bad = { ...doc, egress: { ...doc.egress, mode: 'everything' } };
    let inProcess: ValidationError | undefined;
    try {
      parsePolicy(bad);
    } catch (e) {
      inProcess = e as ValidationError;
    }
    await assert.rejects(parsePolicyIsolated(bad), (e: Error) => {
      assert.ok(e instanceof ValidationError);
      assert.match(e.message, /egress\.mode/);
      assert.equal(e.message, inProcess?.message);
      return true;
    });
  });
});
