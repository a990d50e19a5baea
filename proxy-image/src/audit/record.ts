// One audit line per decision. Only names of secrets ever appear; values are scrubbed again
// by the writer as a last line of defence.
import type { ChainResult, Decision, Severity, Verdict } from '../inspect/types.ts';

export type AuditKind = 'http' | 'websocket' | 'websocket-frame' | 'tunnel' | 'tls' | 'connection';

export interface AuditRecord {
  time: string;
  cage: string;
  kind: AuditKind;
  direction: 'outbound' | 'inbound';
  listener: 'forward' | 'transparent';
  client?: string;
  scheme?: 'http' | 'https';
  method?: string;
  host?: string;
  port?: number;
  path?: string;
  status?: number;
  decision: Decision | 'rate-limited' | 'error';
  inspector?: string;
  reason?: string;
  severity?: Severity;
  /** every verdict that said something (blocks and flags) */
  results: Array<Pick<Verdict, 'inspector' | 'decision' | 'reason' | 'severity'>>;
  injected: string[];
  redacted: string[];
  bytesOut: number;
  bytesIn: number;
  durationMs?: number;
  passthrough?: boolean;
}

export function resultsOf(chain: ChainResult | undefined): AuditRecord['results'] {
  if (!chain) return [];
  const out: AuditRecord['results'] = [];
  if (chain.blockedBy) out.push(pick(chain.blockedBy));
  for (const f of chain.flags) out.push(pick(f));
  return out;
}

function pick(v: Verdict): AuditRecord['results'][number] {
  return { inspector: v.inspector, decision: v.decision, reason: v.reason, severity: v.severity };
}

/**
 * Replaces every real secret value (raw and as it would look JSON-escaped) in a serialized line.
 * Built once per policy generation.
 */
export function makeScrubber(secretValues: ReadonlyMap<string, string>): (line: string) => string {
  const needles: Array<[string, string]> = [];
  for (const [name, value] of secretValues) {
    const mark = `[REDACTED:${name}]`;
    // Lines are JSON, where a raw newline never occurs (it is escaped): a raw value with one can
    // only appear escaped, which the next needle catches. Keeping newlines out of the needles lets
    // the writer scrub a whole batch of lines at once.
    if (!value.includes('\n')) needles.push([value, mark]);
    const escaped = JSON.stringify(value).slice(1, -1);
    if (escaped !== value) needles.push([escaped, mark]);
  }
  // Longest first, so a value that contains another is replaced whole.
  needles.sort((a, b) => b[0].length - a[0].length);
  if (needles.length === 0) return (line) => line;
  return (line) => {
    let out = line;
    for (const [needle, mark] of needles) if (out.includes(needle)) out = out.split(needle).join(mark);
    return out;
  };
}
