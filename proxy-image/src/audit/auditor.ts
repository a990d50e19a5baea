// Routes decisions to the audit log (always blocks and flags; allowed requests unless the policy
// turns them off) and, when capture is on, flows to the HAR file.
import type { ProxyPolicy } from '../../../operator/api/policy.ts';
import { matchesAny } from '../net/domain.ts';
import type { AuditRecord } from './record.ts';
import { harEntry, HarWriter, type FlowCapture } from './har.ts';
import { LineWriter } from './writer.ts';

const RANK: Record<string, number> = { allow: 0, flag: 1, block: 2, 'rate-limited': 2, error: 2 };

export class Auditor {
  private policy!: ProxyPolicy;
  private cageJson = '""';
  constructor(
    private readonly lines: LineWriter,
    private readonly har: HarWriter | undefined,
    readonly harView: 'agent' | 'wire',
  ) {}

  /** Called for each policy generation. */
  use(policy: ProxyPolicy, scrub: (line: string) => string): void {
    this.policy = policy;
    this.cageJson = JSON.stringify(policy.cage);
    this.lines.scrub = scrub;
    // The wire view holds real values by request (the policy asked for it); the agent view never does.
    if (this.har) this.har.scrub = this.harView === 'wire' ? (s) => s : scrub;
  }

  private isoMs = 0;
  private iso = '';
  /** The time as ISO 8601, formatted once per millisecond (busy proxies log several per ms). */
  private isoNow(): string {
    const ms = Date.now();
    if (ms !== this.isoMs) {
      this.isoMs = ms;
      this.iso = new Date(ms).toISOString();
    }
    return this.iso;
  }

  /** Whether a decision of this kind goes to the log (callers may skip building the record). */
  logs(decision: AuditRecord['decision']): boolean {
    return decision !== 'allow' || this.policy.logging.allowedRequests;
  }

  record(rec: Omit<AuditRecord, 'time' | 'cage'>): void {
    if (!this.logs(rec.decision)) return;
    // time and cage lead the line; spliced in as text rather than spread into a copy of the record.
    this.lines.writeLine(
      `{"time":"${this.isoNow()}","cage":${this.cageJson},${JSON.stringify(rec).slice(1)}`,
    );
  }

  /** Would a flow with this decision to this host be captured? (decided before collecting bodies) */
  wantsCapture(host: string, decision: string): boolean {
    if (!this.har) return false;
    const c = this.policy.capture;
    if ((RANK[decision] ?? 2) < (RANK[c.minAction] ?? 0)) return false;
    return c.domains.length === 0 || matchesAny(host, c.domains);
  }

  get captureLimit(): number {
    return this.policy.capture.maxBodyBytes;
  }

  capture(flow: FlowCapture): void {
    this.har?.add(harEntry(flow));
  }

  flush(): void {
    this.lines.flush();
    this.har?.flush();
  }

  close(): void {
    this.lines.close();
    this.har?.close();
  }
}
