// `agentcage scan`, run as a user runs it: the real CLI in a child process, stdin or a file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SAMPLES } from '../../fixtures/secret-samples.ts';

const BIN = join(import.meta.dirname, '../../../bin/agentcage.js');
const scan = (args: string[], input?: string) =>
  spawnSync(process.execPath, [BIN, 'scan', ...args], { input, encoding: 'utf8', timeout: 20_000 });

describe('agentcage scan', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'agentcage-scan-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 3 and names the AWS pattern for a key on stdin', () => {
    const r = scan(['-'], 'key=AKIAIOSFODNN7EXAMPLE\n');
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stdout, /aws-access-key-id/);
    assert.match(r.stdout, /stdin:1:5: high/);
    assert.ok(!r.stdout.includes('AKIAIOSFODNN7EXAMPLE'), 'the key is shown masked, never whole');
  });

  it('exits 0 on a clean file', () => {
    const f = join(dir, 'clean.json');
    writeFileSync(
      f,
      JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'hello, nothing secret' }] }),
    );
    const r = scan([f]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no secrets found/);
  });

  it('--json lists every finding with pattern, offset, line, severity and a masked value', () => {
    const gh = SAMPLES.find((s) => s.pattern === 'github-token')?.positives[0] as string;
    const f = join(dir, 'log.txt');
    const text = `line one\nGET /?t=${Buffer.from(gh).toString('base64')}\nkey=AKIAIOSFODNN7EXAMPLE\n`;
    writeFileSync(f, text);
    const r = scan([f, '--json']);
    assert.equal(r.status, 3);
    const doc = JSON.parse(r.stdout) as { findings: Array<Record<string, unknown>> };
    const byPattern = new Map(doc.findings.map((x) => [x.pattern, x]));
    assert.deepEqual([...byPattern.keys()].sort(), ['aws-access-key-id', 'github-token']);
    assert.equal(byPattern.get('github-token')?.encoding, 'base64');
    assert.equal(byPattern.get('github-token')?.line, 2);
    assert.equal(byPattern.get('aws-access-key-id')?.offset, text.indexOf('AKIA'));
    assert.equal(byPattern.get('aws-access-key-id')?.line, 3);
    assert.ok(!r.stdout.includes(gh) && !r.stdout.includes('AKIAIOSFODNN7EXAMPLE'));
  });

  it('--host leaves out credentials that belong to that host', () => {
    const r = scan(['--host', 's3.amazonaws.com'], 'key=AKIAIOSFODNN7EXAMPLE\n');
    assert.equal(r.status, 0, r.stdout);
  });

  it('an unreadable file is exit 1 with one line saying why', () => {
    const r = scan([join(dir, 'missing.txt')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot read .*missing\.txt: no such file/);
  });
});
