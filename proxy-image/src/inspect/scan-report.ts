// `agentcage scan`'s core: the proxy's secret detectors over any file, as findings a person can
// read (pattern, where, severity, a masked value; never the secret itself).
import { hostMatchesAny } from './domains.ts';
import { mask } from './mask.ts';
import { BUILTIN_PATTERNS } from './patterns.ts';
import { SecretScanner } from './scanner.ts';
import type { Severity } from './types.ts';

export interface ScanFinding {
  pattern: string;
  title: string;
  severity: Severity;
  offset: number;
  line: number;
  column: number;
  encoding: string;
  masked: string;
}

const RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

/** Findings in `data`, in file order. With `host`, patterns that may go to that host are left out. */
export function scanForSecrets(data: Buffer, opts: { host?: string } = {}): ScanFinding[] {
  // The file can be any size: generic patterns run over all of it, not only the proxy's first 256 KiB.
  const scanner = new SecretScanner(BUILTIN_PATTERNS, [], [], { fullLimit: Infinity });
  const byName = new Map(BUILTIN_PATTERNS.map((p) => [p.name, p]));
  const findings = scanner
    .scan(data)
    .filter((f) => !(opts.host && hostMatchesAny(opts.host, byName.get(f.name)?.allowedDomains ?? [])))
    .sort((a, b) => a.offset - b.offset || RANK[b.severity] - RANK[a.severity]);
  // Line and column (1-based) of each offset, in one pass over the newlines.
  const out: ScanFinding[] = [];
  let line = 1;
  let lineStart = 0;
  let pos = 0;
  for (const f of findings) {
    for (; pos < f.offset && pos < data.length; pos++) {
      if (data[pos] === 10) {
        line++;
        lineStart = pos + 1;
      }
    }
    out.push({
      pattern: f.name,
      title: f.title,
      severity: f.severity,
      offset: f.offset,
      line,
      column: f.offset - lineStart + 1,
      encoding: f.encoding,
      masked: mask(f.value),
    });
  }
  return out;
}
