// The benign corpus at default settings: nothing is blocked. Flags are counted and printed per
// category; that count over the corpus size is the false-positive rate we report.
import assert from 'node:assert/strict';
import { buildInspectors } from '../../../proxy-image/src/inspect/index.ts';
import { parsePolicy } from '../../../operator/api/policy.ts';
import { benignCorpus, CORPUS_PLACEHOLDERS } from '../../fixtures/benign-corpus.ts';

const OWN: Record<keyof typeof CORPUS_PLACEHOLDERS, string[]> = {
  ANTHROPIC_API_KEY: ['api.anthropic.com'],
  OPENAI_API_KEY: ['api.openai.com'],
  GITHUB_TOKEN: ['github.com'],
  NPM_TOKEN: ['registry.npmjs.org'],
};

describe('benign corpus at default settings', () => {
  it('no request is blocked; the flag rate is printed', async function () {
    this.timeout(120_000);
    const names = Object.keys(CORPUS_PLACEHOLDERS) as Array<keyof typeof CORPUS_PLACEHOLDERS>;
    const policy = parsePolicy({
      version: 1,
      cage: 'corpus',
      mode: 'explicit',
      egress: { mode: 'blocklist', rules: [], passthrough: [], ports: [443] },
      secrets: names.map((name) => ({
        name,
        placeholder: CORPUS_PLACEHOLDERS[name],
        valueFrom: { env: name },
        injectTo: OWN[name],
        injectIn: ['headers'],
      })),
      inspectors: {},
      rateLimit: {},
      logging: {},
      capture: {},
    });
    const values = new Map(names.map((n, i) => [n, `real-${n.toLowerCase()}-${'Q9x'.repeat(8)}${i}`]));
    const set = await buildInspectors(policy, values);
    const corpus = benignCorpus();
    const blocked: string[] = [];
    const flagged = new Map<string, { n: number; flags: number; why: Set<string> }>();
    for (const { category, request } of corpus) {
      const r = await set.inspectRequest(request);
      const c = flagged.get(category) ?? { n: 0, flags: 0, why: new Set<string>() };
      c.n++;
      if (r.decision === 'block')
        blocked.push(`${category} ${request.host}${request.path.slice(0, 60)}: ${r.blockedBy?.reason}`);
      if (r.decision === 'flag') {
        c.flags++;
        for (const f of r.flags)
          c.why.add(`${f.inspector}: ${f.reason.replace(/[0-9,]+/g, 'N').slice(0, 90)}`);
      }
      flagged.set(category, c);
    }
    const total = corpus.length;
    const flags = [...flagged.values()].reduce((s, c) => s + c.flags, 0);
    const lines = [
      `benign corpus: ${total} requests, ${blocked.length} blocked (${((100 * blocked.length) / total).toFixed(2)}%), ${flags} flagged (${((100 * flags) / total).toFixed(2)}%)`,
    ];
    for (const [cat, c] of flagged)
      if (c.flags > 0) lines.push(`  ${cat}: ${c.flags}/${c.n} flagged - ${[...c.why].join(' | ')}`);
    console.log(lines.join('\n'));
    assert.ok(total >= 500, `the corpus has ${total} requests`);
    assert.deepEqual(blocked, []);
  });
});
