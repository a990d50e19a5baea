// The inspector chain's speed: MB/s per core on 1 MiB and 4 KiB bodies of mixed JSON with every
// detector on, and µs per typical 1 KiB request, side by side with a naive baseline (the same
// chain with a scanner that runs each regex separately over the whole input).
// Run: npx tsx bench/inspectors.ts   (single thread = one core; bounded to a few seconds per row)
import { performance } from 'node:perf_hooks';
import { buildInspectors, type InspectorSet } from '../proxy-image/src/inspect/index.ts';
import type { RequestMessage } from '../proxy-image/src/inspect/types.ts';
import { mixedJson } from '../test/fixtures/mixed-json.ts';
import { request, testPolicy, testValues, ANTHROPIC_PH } from '../test/unit/inspect/policy-fixture.ts';

const BUDGET_MS = Number(process.env.BENCH_MS ?? 1500);

function messages(body: Buffer, copies: number): RequestMessage[] {
  // Fresh buffers: the chain caches per-buffer facts, and a proxy never sees the same one twice.
  return Array.from({ length: copies }, () =>
    request({
      host: 'api.anthropic.com',
      path: '/v1/messages?beta=true',
      headers: [
        ['host', 'api.anthropic.com'],
        ['user-agent', 'claude-cli/1.0.80 (external, cli)'],
        ['content-type', 'application/json'],
        ['accept', 'application/json'],
        ['anthropic-version', '2023-06-01'],
        ['x-api-key', ANTHROPIC_PH],
        ['content-length', String(body.length)],
      ],
      body: Buffer.from(body),
    }),
  );
}

async function measure(set: InspectorSet, body: Buffer): Promise<{ perOp: number; decision: string }> {
  const pool = messages(body, body.length > 100_000 ? 8 : 256);
  let decision = '';
  for (const m of pool.slice(0, 2)) decision = (await set.inspectRequest(m)).decision; // warm-up
  let ops = 0;
  // CPU time of this process, not wall time: MB/s per core even when other work shares the core.
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let fresh = 0; // time spent copying bodies, taken out of the figure
  while (performance.now() - t0 < BUDGET_MS && ops < 200_000) {
    if (ops > 0) {
      // New buffers for the whole pool at once, as the proxy would have; timed per batch, not per
      // request, so the clock reads themselves stay out of a 20 µs figure.
      const f0 = process.cpuUsage();
      for (const m of pool) m.body = Buffer.from(body);
      const f1 = process.cpuUsage(f0);
      fresh += (f1.user + f1.system) / 1000;
    }
    for (const m of pool) await set.inspectRequest(m);
    ops += pool.length;
  }
  const c = process.cpuUsage(c0);
  return { perOp: ((c.user + c.system) / 1000 - fresh) / ops, decision };
}

const policy = testPolicy();
const fast = await buildInspectors(policy, testValues());
const naive = await buildInspectors(policy, testValues(), { scanner: 'naive' });

const rows: string[][] = [['body', 'fast', 'naive baseline', 'speed-up']];
for (const [label, size] of [
  ['1 MiB mixed JSON', 1 << 20],
  ['4 KiB mixed JSON', 4096],
] as const) {
  const body = mixedJson(size, 7);
  const f = await measure(fast, body);
  const n = await measure(naive, body);
  const mbs = (r: { perOp: number }) => `${(body.length / 1e6 / (r.perOp / 1000)).toFixed(0)} MB/s`;
  rows.push([label, mbs(f), mbs(n), `${(n.perOp / f.perOp).toFixed(1)}x`]);
  if (f.decision === 'block' || n.decision === 'block') console.error(`unexpected block on ${label}`);
}
const oneK = mixedJson(1024, 11).subarray(0, 1024);
const f1 = await measure(fast, oneK);
const n1 = await measure(naive, oneK);
rows.push([
  '1 KiB request (7 headers)',
  `${(f1.perOp * 1000).toFixed(1)} µs`,
  `${(n1.perOp * 1000).toFixed(1)} µs`,
  `${(n1.perOp / f1.perOp).toFixed(1)}x`,
]);

const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join('  '));
console.log(
  `(CPU time of one thread = one core; node ${process.version}; ${BUDGET_MS} ms per cell; goal: >= 300 MB/s on 1 MiB, < 20 µs per 1 KiB request)`,
);
