// A custom inspector that refuses responses: the agent gets the JSON 403 even when the upstream
// is still streaming the body (the upstream request is cut, not reported as an upstream error).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { curl, jsonBody, startRig, tempDir, type Rig } from './harness.ts';

describe('proxy: a response refused by an inspector', function () {
  this.timeout(30000);
  let rig: Rig;

  before(async () => {
    const dir = join(tempDir(), 'inspectors');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'no-text.mjs'),
      `export default { name: 'no-text', inspect(msg) {
        if (msg.kind === 'response' && msg.headers.some(([k, v]) => k.toLowerCase() === 'content-type' && v.startsWith('text/plain')))
          return { decision: 'block', inspector: 'x', reason: 'plain text answers are not for this agent', severity: 'medium' };
      } };\n`,
    );
    rig = await startRig({ inspectors: { custom: { dir, modules: ['no-text.mjs'] } } });
  });
  after(async () => rig?.close());

  it('a streaming response is refused with the 403; a JSON answer (the allowed twin) passes', async () => {
    // /stream sends its head, then the rest of the body 20 ms later.
    const blocked = await curl(['-x', rig.proxyUrl, `http://api.test:${rig.up.httpPort}/stream`]);
    assert.equal(blocked.status, 403);
    const body = jsonBody(blocked.body);
    assert.equal(body.inspector, 'custom:no-text');
    assert.match(String(body.reason), /plain text answers/);
    const allowed = await curl(['-x', rig.proxyUrl, `http://api.test:${rig.up.httpPort}/echo`]);
    assert.equal(allowed.status, 200);
    const lines = rig.auditLines().filter((l) => l.kind === 'http');
    const refused = lines.find((l) => l.path === '/stream');
    assert.equal(refused?.decision, 'block');
    assert.equal(refused?.status, 403);
  });
});
