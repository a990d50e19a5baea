// Whether a request may go upstream, after its head (and body) were read: the inspector chain's
// verdict first, then the per-host rate limit. Shared by plain HTTP and WebSocket upgrades.
import type { AuditRecord } from '../audit/record.ts';
import type { ChainResult } from '../inspect/types.ts';
import type { Refusal } from './respond.ts';
import type { ProxyState } from './state.ts';

/** A chain that threw: fail closed, as a block naming the failure. */
export function failClosed(inspector: string, e: unknown): ChainResult {
  return {
    decision: 'block',
    blockedBy: {
      decision: 'block',
      inspector,
      reason: `inspector failed, so the request is blocked: ${(e as Error)?.message ?? String(e)}`,
      severity: 'high',
    },
    flags: [],
    timings: [],
  };
}

/** Runs a chain that never throws or rejects: a failing one becomes a block (fail closed). */
export function inspectFailClosed(
  inspect: () => ChainResult | Promise<ChainResult>,
): ChainResult | Promise<ChainResult> {
  let r: ChainResult | Promise<ChainResult>;
  try {
    r = inspect();
  } catch (e) {
    return failClosed('inspectors', e);
  }
  return r instanceof Promise ? r.catch((e: unknown) => failClosed('inspectors', e)) : r;
}

/**
 * Calls `then` with the chain's result: at once when the chain answered synchronously (no promise,
 * no extra turn of the event loop), else when it settles. A throwing or rejecting chain fails closed.
 */
export function withChain(
  inspect: () => ChainResult | Promise<ChainResult>,
  then: (chain: ChainResult) => void,
): void | Promise<void> {
  const r = inspectFailClosed(inspect);
  return r instanceof Promise ? r.then(then) : then(r);
}

export interface Turnaway {
  refusal: Omit<Refusal, 'host'>;
  decision: AuditRecord['decision'];
}

/** The 403 for a blocked chain, the 429 for a host over its rate, or undefined to go on. */
export function turnaway(
  chain: ChainResult,
  state: ProxyState,
  host: string,
  now: number,
  rateLimited: { inc(): void },
): Turnaway | undefined {
  if (chain.decision === 'block') {
    const v = chain.blockedBy;
    return {
      refusal: {
        status: 403,
        error: 'blocked',
        inspector: v?.inspector ?? 'unknown',
        reason: v?.reason ?? 'blocked',
        severity: v?.severity,
      },
      decision: 'block',
    };
  }
  if (!state.rateLimiter.take(host, now)) {
    rateLimited.inc();
    return {
      refusal: {
        status: 429,
        error: 'blocked',
        inspector: 'rate-limit',
        reason: `more than the allowed requests per second to ${host}`,
        retryAfter: state.rateLimiter.retryAfter(host),
      },
      decision: 'rate-limited',
    };
  }
  return undefined;
}
