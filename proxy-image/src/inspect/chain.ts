// The chain: inspectors in a fixed order, stop at the first block, collect flags. An inspector that
// throws, hangs or answers nonsense blocks the message (fail closed).
import { performance } from 'node:perf_hooks';
import type {
  ChainResult,
  Decision,
  InspectContext,
  Inspector,
  Message,
  Severity,
  Verdict,
} from './types.ts';

const DECISIONS: readonly Decision[] = ['allow', 'flag', 'block'];
const SEVERITIES: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical'];

export interface ChainOptions {
  /** Time limit for an inspector that answers with a promise; past it, the message is blocked. */
  asyncTimeoutMs?: number;
}

function failed(name: string, why: string): Verdict {
  return {
    decision: 'block',
    inspector: name,
    reason: `inspector "${name}" ${why}, so the message was blocked (fail closed)`,
    severity: 'high',
  };
}

/** A verdict as the chain records it: well formed, and attributed to the inspector that gave it. */
export function checkVerdict(name: string, v: unknown): Verdict | undefined {
  if (v === undefined || v === null) return undefined;
  const o = v as Partial<Verdict>;
  if (typeof o !== 'object' || !DECISIONS.includes(o.decision as Decision))
    return failed(name, 'returned something that is not a verdict');
  if (o.decision === 'allow') return undefined;
  return {
    decision: o.decision as Decision,
    inspector: name,
    reason: typeof o.reason === 'string' && o.reason ? o.reason : `${o.decision} by ${name}`,
    severity: SEVERITIES.includes(o.severity as Severity) ? (o.severity as Severity) : 'medium',
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer)) as Promise<T>;
}

function finish(flags: Verdict[], timings: ChainResult['timings'], blockedBy?: Verdict): ChainResult {
  const decision: Decision = blockedBy ? 'block' : flags.length > 0 ? 'flag' : 'allow';
  return blockedBy ? { decision, blockedBy, flags, timings } : { decision, flags, timings };
}

export async function runChain(
  inspectors: readonly Inspector[],
  msg: Message,
  ctx: InspectContext,
  opts: ChainOptions = {},
): Promise<ChainResult> {
  const flags: Verdict[] = [];
  const timings: ChainResult['timings'] = [];
  for (const insp of inspectors) {
    const t0 = performance.now();
    let v: Verdict | undefined;
    try {
      const r = insp.inspect(msg, ctx);
      const answer = r instanceof Promise ? await withTimeout(r, opts.asyncTimeoutMs ?? 5000) : r;
      v = checkVerdict(insp.name, answer);
    } catch (e) {
      v = failed(insp.name, `failed: ${(e as Error)?.message ?? String(e)}`);
    }
    timings.push([insp.name, (performance.now() - t0) / 1000]);
    if (!v) continue;
    if (v.decision === 'block') return finish(flags, timings, v);
    flags.push(v);
  }
  return finish(flags, timings);
}

/** The same chain for inspectors that answer synchronously (DNS). A promise counts as a failure. */
export function runChainSync(
  inspectors: readonly Inspector[],
  msg: Message,
  ctx: InspectContext,
): ChainResult {
  const flags: Verdict[] = [];
  const timings: ChainResult['timings'] = [];
  for (const insp of inspectors) {
    const t0 = performance.now();
    let v: Verdict | undefined;
    try {
      const r = insp.inspect(msg, ctx);
      if (r instanceof Promise) {
        r.catch(() => undefined);
        v = failed(insp.name, 'answered asynchronously where a synchronous answer is required');
      } else v = checkVerdict(insp.name, r);
    } catch (e) {
      v = failed(insp.name, `failed: ${(e as Error)?.message ?? String(e)}`);
    }
    timings.push([insp.name, (performance.now() - t0) / 1000]);
    if (!v) continue;
    if (v.decision === 'block') return finish(flags, timings, v);
    flags.push(v);
  }
  return finish(flags, timings);
}
