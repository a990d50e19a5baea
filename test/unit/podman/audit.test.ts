// Reading the proxy's and the resolver's audit lines: parse, filter, count, print.
import assert from 'node:assert/strict';
import {
  byTime,
  clockTime,
  countDecisions,
  filterAudit,
  formatAuditTable,
  parseAuditLines,
  parseSince,
} from '../../../operator/controller/podman/audit.ts';

// As the proxy (allow/block) and the dns image (allowed/blocked) write them, with log noise between.
const LOG = [
  '{"time":"2026-01-01T10:00:01.123456Z","kind":"http","host":"api.example.test","method":"POST","path":"/v1","status":200,"decision":"allow"}',
  'dnsmasq: started, version 2.90',
  '{"time":"2026-01-01T10:00:00Z","kind":"dns","name":"evil.example.com","qtype":"A","decision":"blocked","answer":"198.51.100.1"}',
  '{"level":"info","msg":"proxy ready"}',
  '{"time":"2026-01-01T10:05:00.000Z","kind":"http","host":"x.evil.example.com","method":"GET","path":"/","status":403,"decision":"block","inspector":"domain","reason":"not on the allowlist"}',
  '{"time": broken',
].join('\n');

describe('podman audit reading', () => {
  it('keeps only audit lines (they carry a decision), skipping log noise and broken JSON', () => {
    const recs = parseAuditLines(LOG);
    assert.equal(recs.length, 3);
  });

  it('filters by decision in either vocabulary, by host with its subdomains, and by time', () => {
    const recs = parseAuditLines(LOG);
    const now = Date.parse('2026-01-01T10:06:00Z');
    assert.equal(filterAudit(recs, { decision: 'blocked' }).length, 2);
    assert.equal(filterAudit(recs, { decision: 'block' }).length, 2);
    assert.equal(filterAudit(recs, { decision: 'allowed' }).length, 1);
    assert.deepEqual(
      filterAudit(recs, { host: 'evil.example.com' }).map((r) => r.kind),
      ['dns', 'http'],
    );
    assert.equal(filterAudit(recs, { host: 'example.com' }).length, 2);
    assert.equal(filterAudit(recs, { host: 'ample.com' }).length, 0);
    assert.equal(filterAudit(recs, { since: '2m' }, now).length, 1);
    assert.equal(filterAudit(recs, { since: '2026-01-01T10:00:01Z' }, now).length, 2);
  });

  it('refuses a --since that is neither a time nor a duration, saying both forms', () => {
    assert.throws(() => parseSince('yesterday'), /neither a time .* nor a duration \(30s, 10m, 2h, 1d\)/);
    assert.equal(parseSince('1h', 3_600_000), 0);
  });

  it('counts decisions in one vocabulary and orders by time', () => {
    const recs = parseAuditLines(LOG);
    assert.deepEqual(countDecisions(recs), { allowed: 1, blocked: 2 });
    assert.deepEqual(
      byTime(recs).map((r) => r.kind),
      ['dns', 'http', 'http'],
    );
  });

  it('prints a table with what happened and why, times to the millisecond', () => {
    const table = formatAuditTable(byTime(parseAuditLines(LOG))).split('\n');
    assert.match(table[0], /^TIME\s+KIND\s+DECISION\s+STATUS\s+HOST\s+WHAT\s+WHY$/);
    assert.match(
      table[1],
      /^10:00:00 +dns +blocked +- +evil\.example\.com +DNS A evil\.example\.com -> 198\.51\.100\.1$/,
    );
    assert.match(table[2], /^10:00:01\.123 +http +allowed +200 +api\.example\.test +POST \/v1$/);
    assert.match(table[3], /blocked +403 +x\.evil\.example\.com +GET \/ +domain: not on the allowlist$/);
    assert.equal(clockTime('2026-01-01T08:55:44Z'), '08:55:44');
  });
});
