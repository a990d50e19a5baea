// Pure handling of audit lines (the proxy's decisions and the dns image's queries share one JSON
// line format): parse, filter, count, and print as a table people can read.

export interface AuditRecord {
  time?: string;
  kind?: string;
  decision?: string;
  host?: string;
  name?: string;
  method?: string;
  url?: string;
  path?: string;
  status?: number;
  inspector?: string;
  reason?: string;
  [k: string]: unknown;
}

export interface AuditFilter {
  decision?: string;
  host?: string;
  /** RFC 3339 time, or a duration back from now such as 10m, 2h, 30s. */
  since?: string;
}

export function parseAuditLines(text: string): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const rec = JSON.parse(t) as unknown;
      if (rec && typeof rec === 'object' && !Array.isArray(rec) && isAudit(rec as AuditRecord))
        out.push(rec as AuditRecord);
    } catch {
      // a log line that only looks like JSON
    }
  }
  return out;
}

/** Audit lines carry a decision; other JSON a pod prints (startup, metrics) does not. */
function isAudit(r: AuditRecord): boolean {
  return typeof r.decision === 'string' || typeof r.action === 'string';
}

/** The proxy says allow/block/flag, the resolver allowed/blocked: one vocabulary for filters and counts. */
const DECISION_WORDS: Record<string, string> = { allow: 'allowed', block: 'blocked', flag: 'flagged' };

export function normalDecision(d: string): string {
  return DECISION_WORDS[d] ?? d;
}

export function decisionOf(r: AuditRecord): string {
  return normalDecision(String(r.decision ?? r.action ?? ''));
}

export function hostOf(r: AuditRecord): string {
  return String(r.host ?? r.name ?? '');
}

/** Parses `--since`: an RFC 3339 time or a duration (s, m, h, d) back from `now`. */
export function parseSince(since: string, now = Date.now()): number {
  const d = /^(\d+)(s|m|h|d)$/.exec(since);
  if (d)
    return now - Number(d[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[d[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(since);
  if (Number.isNaN(t))
    throw new Error(
      `--since "${since}" is neither a time (2026-01-01T12:00:00Z) nor a duration (30s, 10m, 2h, 1d)`,
    );
  return t;
}

export function filterAudit(records: AuditRecord[], f: AuditFilter, now = Date.now()): AuditRecord[] {
  const since = f.since ? parseSince(f.since, now) : undefined;
  const host = f.host?.toLowerCase();
  return records.filter((r) => {
    if (f.decision && decisionOf(r) !== normalDecision(f.decision)) return false;
    if (host) {
      const h = hostOf(r).toLowerCase();
      if (h !== host && !h.endsWith('.' + host)) return false;
    }
    if (since !== undefined && r.time !== undefined && Date.parse(r.time) < since) return false;
    return true;
  });
}

/** Oldest first; records without a time keep their place after the timed ones before them. */
export function byTime(records: AuditRecord[]): AuditRecord[] {
  return records
    .map((r, i) => ({ r, i, t: r.time ? Date.parse(r.time) : NaN }))
    .sort((a, b) => (Number.isNaN(a.t) || Number.isNaN(b.t) ? a.i - b.i : a.t - b.t || a.i - b.i))
    .map((x) => x.r);
}

export function countDecisions(records: AuditRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) {
    const d = decisionOf(r) || 'unknown';
    out[d] = (out[d] ?? 0) + 1;
  }
  return out;
}

function what(r: AuditRecord): string {
  if (r.kind === 'dns') return `DNS ${String(r.qtype ?? '')} ${hostOf(r)} -> ${String(r.answer ?? '-')}`;
  const target = r.url ?? r.path ?? '';
  const method = r.method ?? (r.kind === 'websocket' || r.kind === 'ws' ? 'WS' : '');
  return `${method} ${target}`.trim();
}

function why(r: AuditRecord): string {
  const parts = [r.inspector, r.reason].filter((x) => x !== undefined && x !== '').map(String);
  return parts.join(': ');
}

/** `2026-01-01T08:55:44.123456Z` -> `08:55:44.123`; the resolver's lines carry whole seconds. */
export function clockTime(t: string): string {
  return t
    .replace(/^\d{4}-\d\d-\d\dT/, '')
    .replace(/Z$/, '')
    .replace(/(\.\d{3})\d+/, '$1');
}

function clip(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}

/** A fixed-width table: TIME KIND DECISION STATUS HOST WHAT WHY. */
/** Column widths for `audit -f`, where rows print one at a time and cannot be measured first. */
export const FOLLOW_WIDTHS = [12, 15, 8, 6, 28, 44];

export function formatAuditTable(records: AuditRecord[], minWidths: number[] = []): string {
  const rows = records.map((r) => [
    r.time ? clockTime(r.time) : '-',
    String(r.kind ?? 'http'),
    decisionOf(r),
    r.status === undefined ? '-' : String(r.status),
    clip(hostOf(r), 28),
    clip(what(r), 44),
    clip(why(r), 70),
  ]);
  return formatTable(['TIME', 'KIND', 'DECISION', 'STATUS', 'HOST', 'WHAT', 'WHY'], rows, minWidths);
}

export function formatTable(head: string[], rows: string[][], minWidths: number[] = []): string {
  const widths = head.map((h, i) =>
    Math.max(h.length, minWidths[i] ?? 0, ...rows.map((r) => (r[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}
