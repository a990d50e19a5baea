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

/** Records one inspector's answer (a verdict, nothing, or a failure); returns it when it blocks. */
function settle(
  name: string,
  answer: unknown,
  t0: number,
  flags: Verdict[],
  timings: ChainResult['timings'],
): Verdict | undefined {
  const v = checkVerdict(name, answer);
  timings.push([name, (performance.now() - t0) / 1000]);
  if (!v) return undefined;
  if (v.decision === 'block') return v;
  flags.push(v);
  return undefined;
}

const thrown = (name: string, e: unknown): Verdict =>
  failed(name, `failed: ${(e as Error)?.message ?? String(e)}`);

/**
 * Runs the chain, synchronously as long as every inspector answers synchronously (the built-in
 * ones always do): only a chain with an asynchronous answer costs a promise. Callers take
 * either form.
 */
export function runChain(
  inspectors: readonly Inspector[],
  msg: Message,
  ctx: InspectContext,
  opts: ChainOptions = {},
): ChainResult | Promise<ChainResult> {
  const flags: Verdict[] = [];
  const timings: ChainResult['timings'] = [];
  for (let i = 0; i < inspectors.length; i++) {
    const insp = inspectors[i];
    const t0 = performance.now();
    let answer: unknown;
    try {
      answer = insp.inspect(msg, ctx);
    } catch (e) {
      answer = thrown(insp.name, e);
    }
    if (answer instanceof Promise)
      return finishAsync(inspectors, i, answer, t0, msg, ctx, opts, flags, timings);
    const blocked = settle(insp.name, answer, t0, flags, timings);
    if (blocked) return finish(flags, timings, blocked);
  }
  return finish(flags, timings);
}

/** The rest of a chain from the first inspector that answered with a promise. */
async function finishAsync(
  inspectors: readonly Inspector[],
  from: number,
  pending: Promise<unknown>,
  t0: number,
  msg: Message,
  ctx: InspectContext,
  opts: ChainOptions,
  flags: Verdict[],
  timings: ChainResult['timings'],
): Promise<ChainResult> {
  for (let i = from; i < inspectors.length; i++) {
    const insp = inspectors[i];
    const start = i === from ? t0 : performance.now();
    let answer: unknown;
    try {
      const r = i === from ? pending : insp.inspect(msg, ctx);
      answer = r instanceof Promise ? await withTimeout(r, opts.asyncTimeoutMs ?? 5000) : r;
    } catch (e) {
      answer = thrown(insp.name, e);
    }
    const blocked = settle(insp.name, answer, start, flags, timings);
    if (blocked) return finish(flags, timings, blocked);
  }
  return finish(flags, timings);
}

/** The same chain for inspectors that must answer synchronously (DNS). A promise counts as a failure. */
export function runChainSync(
  inspectors: readonly Inspector[],
  msg: Message,
  ctx: InspectContext,
): ChainResult {
  const flags: Verdict[] = [];
  const timings: ChainResult['timings'] = [];
  for (const insp of inspectors) {
    const t0 = performance.now();
    let answer: unknown;
    try {
      answer = insp.inspect(msg, ctx);
    } catch (e) {
      answer = thrown(insp.name, e);
    }
    if (answer instanceof Promise) {
      answer.catch(() => undefined);
      answer = failed(insp.name, 'answered asynchronously where a synchronous answer is required');
    }
    const blocked = settle(insp.name, answer, t0, flags, timings);
    if (blocked) return finish(flags, timings, blocked);
  }
  return finish(flags, timings);
}
