// Secrets leaving the cage: secret-shaped strings sent where that kind of credential does not go,
// real secret values in any encoding (the agent never holds one, so one leaving is an exfiltration),
// and placeholders sent where the proxy will not replace them.
import type { PolicySecret } from '../../../../operator/api/policy.ts';
import { hostMatchesAny } from '../domains.ts';
import { mask } from '../mask.ts';
import type { SecretPattern } from '../patterns.ts';
import type { Finding } from '../findings.ts';
/** Anything that scans a buffer or string for findings (the fast scanner or the naive one). */
export interface Scanner {
  scan(input: Buffer | string): Finding[];
}
import type { InjectLocation } from '../../../../operator/api/cage.ts';
import type { Inspector, Message, Severity, Verdict } from '../types.ts';

export interface Located extends Finding {
  location: InjectLocation;
  /** For headers: the header name. */
  where: string;
}

const RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

/** Every finding in the parts of an outbound message, with where it sits. */
export function scanOutbound(scanner: Scanner, msg: Message): Located[] {
  const out: Located[] = [];
  if (msg.kind === 'request') {
    // One scan over the head: the URL, then each header on its own line (runs never cross lines).
    const starts: number[] = [0];
    let head = msg.path;
    for (const [name, value] of msg.headers) {
      starts.push(head.length + 1);
      head += '\n' + name + ': ' + value;
    }
    for (const f of scanner.scan(Buffer.from(head, 'latin1'))) {
      let k = starts.length - 1;
      while (k > 0 && starts[k] > f.offset) k--;
      if (k === 0) out.push({ ...f, location: 'url', where: 'the URL' });
      else
        out.push({
          ...f,
          offset: f.offset - starts[k],
          location: 'headers',
          where: `header ${msg.headers[k - 1][0]}`,
        });
    }
    if (msg.body.length > 0)
      for (const f of scanner.scan(msg.body)) out.push({ ...f, location: 'body', where: 'the body' });
  } else if (msg.kind === 'websocket' && msg.direction === 'outbound') {
    for (const f of scanner.scan(msg.data))
      out.push({ ...f, location: 'websocket', where: 'a WebSocket frame' });
  }
  return out;
}

function encodingNote(f: Finding): string {
  return f.encoding === 'plain' ? '' : ` (${f.encoding.replace(/>/g, ' inside ')}-encoded)`;
}

/** Whether the proxy will swap this placeholder in: right host, allowed location, replaceable form. */
function placeholderUsable(f: Located, s: PolicySecret, host: string, msg: Message): boolean {
  if (!hostMatchesAny(host, s.injectTo) || !s.injectIn.includes(f.location)) return false;
  if (f.encoding === 'plain') return true;
  // Basic auth: the placeholder sits inside base64 "user:placeholder"; the swap re-encodes it.
  if (f.location === 'headers' && f.encoding === 'base64' && msg.kind === 'request') {
    const name = f.where.slice('header '.length).toLowerCase();
    return (
      name === 'authorization' &&
      /^basic\s/i.test(msg.headers.find(([n]) => n.toLowerCase() === name)?.[1] ?? '')
    );
  }
  return false;
}

export function secretsInspector(
  scanner: Scanner,
  patterns: readonly SecretPattern[],
  secrets: readonly PolicySecret[],
): Inspector {
  const byPattern = new Map(patterns.map((p) => [p.name, p]));
  const bySecret = new Map(secrets.map((s) => [s.name, s]));
  return {
    name: 'secrets',
    inspect(msg: Message) {
      if (msg.kind !== 'request' && msg.kind !== 'websocket') return undefined;
      const host = msg.host;
      const verdicts: Verdict[] = [];
      for (const f of scanOutbound(scanner, msg)) {
        const at = `in ${f.where}${encodingNote(f)}`;
        if (f.kind === 'real-value') {
          verdicts.push({
            decision: 'block',
            inspector: 'secrets',
            severity: 'critical',
            reason: `${f.title} appears ${at}; the agent never holds real values, so it may not leave the cage`,
          });
        } else if (f.kind === 'pattern') {
          const p = byPattern.get(f.name);
          if (!p || hostMatchesAny(host, p.allowedDomains)) continue;
          const goesTo = p.allowedDomains.length
            ? `it belongs only to ${p.allowedDomains.join(', ')}`
            : 'it has no allowed destination';
          verdicts.push({
            decision: p.action,
            inspector: 'secrets',
            severity: p.severity,
            reason: `${p.title} [${p.name}] ${mask(f.value)} appears ${at} of a message to ${host}; ${goesTo}`,
          });
        } else {
          const s = bySecret.get(f.name);
          if (!s || placeholderUsable(f, s, host, msg)) continue;
          const why = !hostMatchesAny(host, s.injectTo)
            ? `${host} is not one of its injectTo domains (${s.injectTo.join(', ')})`
            : !s.injectIn.includes(f.location)
              ? `secret ${s.name} is injected only in ${s.injectIn.join(', ')}`
              : 'it is encoded where the proxy cannot replace it';
          verdicts.push({
            decision: 'flag',
            inspector: 'secrets',
            severity: 'medium',
            reason: `${f.title} appears ${at} and was not replaced: ${why}`,
          });
        }
      }
      if (verdicts.length === 0) return undefined;
      const blocks = verdicts.filter((v) => v.decision === 'block');
      const pick = blocks.length > 0 ? blocks : verdicts;
      pick.sort((a, b) => RANK[b.severity] - RANK[a.severity]);
      const more =
        pick.length > 1 ? ` (and ${pick.length - 1} more finding${pick.length > 2 ? 's' : ''})` : '';
      return { ...pick[0], reason: pick[0].reason + more };
    },
  };
}
