// The operator image's content: the esbuild bundle its Containerfile copies runs the operator
// verb on plain node (no tsx, no node_modules), and the Containerfile copies and runs that bundle.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './tools.ts';

describe('operator image bundle', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'agentcage-operator-bundle-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the Containerfile bundles from operator/cli/main.ts, copies it, and runs `operator` as a non-root user', () => {
    const cf = readFileSync('operator/Containerfile', 'utf8');
    assert.match(cf, /esbuild operator\/cli\/main\.ts .*--outfile=build\/operator\/agentcage\.mjs/s);
    assert.match(cf, /^COPY build\/operator\/agentcage\.mjs \/app\/agentcage\.mjs$/m);
    assert.match(cf, /^ENTRYPOINT \["\/usr\/bin\/node", "\/app\/agentcage\.mjs", "operator"\]$/m);
    assert.match(cf, /^USER 10001$/m);
    assert.match(
      cf,
      /^ARG BASE=docker\.io\/library\/node:20[^@]*@sha256:[0-9a-f]{64}$/m,
      'a pinned upstream base',
    );
  });

  it('the bundle runs the operator verb on plain node and refuses a missing kubeconfig with exit 1', () => {
    const out = join(dir, 'agentcage.mjs');
    const b = run('node_modules/.bin/esbuild', [
      'operator/cli/main.ts',
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      `--outfile=${out}`,
      '--log-level=warning',
      "--banner:js=import { createRequire as __agentcageCreateRequire } from 'node:module'; const require = __agentcageCreateRequire(import.meta.url);",
    ]);
    assert.equal(b.code, 0, b.stderr);
    // Run from an empty directory: nothing but the bundle and node.
    const help = run(process.execPath, [out, 'operator', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--kubeconfig <file>/);
    assert.match(help.stdout, /--namespace <ns>/);
    const bad = run(process.execPath, [out, 'operator', '--kubeconfig', join(dir, 'nope')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no such file/);
  });
});
