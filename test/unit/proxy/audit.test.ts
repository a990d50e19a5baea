import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HarWriter, harEntry } from '../../../proxy-image/src/audit/har.ts';
import { makeScrubber } from '../../../proxy-image/src/audit/record.ts';
import { LineWriter } from '../../../proxy-image/src/audit/writer.ts';

describe('proxy audit output', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'agentcage-audit-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('the scrubber removes real values, raw and JSON-escaped, longest first', () => {
    const scrub = makeScrubber(
      new Map([
        ['A', 'abc"def\\ghi'],
        ['B', 'abc'],
      ]),
    );
    const line = JSON.stringify({ reason: 'saw abc"def\\ghi and abc' });
    const out = scrub(line);
    assert.ok(!out.includes('abc'), out);
    assert.match(out, /\[REDACTED:A\] and \[REDACTED:B\]/);
    assert.equal(makeScrubber(new Map())('x'), 'x');
  });

  it('the line writer keeps every line, in order, and scrubs each one', () => {
    const path = join(dir, 'audit.jsonl');
    const w = new LineWriter(path);
    w.scrub = makeScrubber(new Map([['K', 'REAL-VALUE-123']]));
    for (let i = 0; i < 5000; i++) w.write({ i, note: i % 1000 === 0 ? 'REAL-VALUE-123' : 'ok' });
    w.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    assert.equal(lines.length, 5000);
    lines.forEach((l, i) => assert.equal((JSON.parse(l) as { i: number }).i, i));
    assert.ok(!lines.join('\n').includes('REAL-VALUE-123'));
  });

  it('a value with a newline is scrubbed in every line of a batch, and every line stays whole JSON', () => {
    const path = join(dir, 'audit.jsonl');
    const w = new LineWriter(path);
    // Raw, this value would match across two lines of a batch: one ends `"x"}`, the next starts `{"i"`.
    const value = 'x"}\n{"i"';
    w.scrub = makeScrubber(new Map([['K', value]]));
    for (let i = 0; i < 100; i++) w.write({ i, note: i % 10 === 0 ? value : 'ok', last: 'x' });
    w.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    assert.equal(lines.length, 100);
    lines.forEach((l, i) => {
      const rec = JSON.parse(l) as { i: number; note: string; last: string };
      assert.equal(rec.i, i);
      assert.equal(rec.note, i % 10 === 0 ? '[REDACTED:K]' : 'ok');
      assert.equal(rec.last, 'x');
    });
  });

  it('the HAR file is valid JSON after every batch, not only at close', () => {
    const path = join(dir, 'flows.har');
    const h = new HarWriter(path, 'agent');
    const parse = () =>
      JSON.parse(readFileSync(path, 'utf8')) as { log: { version: string; entries: unknown[] } };
    assert.deepEqual(parse().log.entries, []);
    const flow = {
      started: Date.now(),
      durationMs: 3,
      method: 'GET',
      url: 'https://api.test/x?a=1',
      requestHeaders: [['Host', 'api.test']] as Array<[string, string]>,
      requestBody: Buffer.alloc(0),
      requestBodySize: 0,
      status: 200,
      statusText: 'OK',
      responseHeaders: [['content-type', 'application/octet-stream']] as Array<[string, string]>,
      responseBody: Buffer.from([0xff, 0x00, 0x01]),
      responseBodySize: 3,
      decision: 'allow',
    };
    h.add(harEntry(flow));
    h.flush();
    assert.equal(parse().log.entries.length, 1);
    h.add(harEntry(flow));
    h.add(harEntry(flow));
    h.flush();
    const har = parse();
    assert.equal(har.log.version, '1.2');
    assert.equal(har.log.entries.length, 3);
    const e = har.log.entries[0] as { response: { content: { encoding: string; text: string } } };
    assert.equal(e.response.content.encoding, 'base64', 'binary bodies are base64');
    assert.equal(Buffer.from(e.response.content.text, 'base64').length, 3);
    h.close();
  });
});
