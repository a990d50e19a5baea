// Status conditions, as pure functions: what each condition should say given what the reconcile
// observed, and how to fold that into the existing list so lastTransitionTime moves only when a
// status flips. Condition types and reasons are constants (CamelCase), never built from data.
import type { Condition } from '../../api/cage.ts';

export const CONDITION = {
  Ready: 'Ready',
  ProxyReady: 'ProxyReady',
  DNSReady: 'DNSReady',
  PolicyApplied: 'PolicyApplied',
} as const;
export type ConditionType = (typeof CONDITION)[keyof typeof CONDITION];
export const CONDITION_ORDER: ConditionType[] = ['Ready', 'ProxyReady', 'DNSReady', 'PolicyApplied'];

export const REASON = {
  // Ready
  AllReady: 'AllComponentsReady',
  ComponentsNotReady: 'ComponentsNotReady',
  AgentPending: 'AgentPending',
  InvalidSpec: 'InvalidSpec',
  ApplyFailed: 'ApplyFailed',
  // ProxyReady / DNSReady
  ProxyAvailable: 'ProxyAvailable',
  ProxyUnavailable: 'ProxyUnavailable',
  DnsAvailable: 'DnsAvailable',
  DnsUnavailable: 'DnsUnavailable',
  AwaitingServiceIP: 'AwaitingServiceIP',
  // PolicyApplied
  Applied: 'Applied',
} as const;
export type Reason = (typeof REASON)[keyof typeof REASON];

/** Every condition that says the NetworkPolicy is in place carries this: it is only as good as the CNI. */
export const CNI_WARNING =
  'NetworkPolicy holds only where the cluster network plugin enforces it (Calico, Cilium, Antrea, ...; kindnet and flannel alone ignore it): check with `agentcage cage verify`';

export interface ConditionUpdate {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: Reason;
  message: string;
}

export interface Transition {
  type: ConditionType;
  from: Condition['status'] | undefined;
  to: Condition['status'];
  reason: Reason;
  message: string;
}

/**
 * The new list: each update replaces its type's entry; lastTransitionTime is kept unless the
 * status changed. Types not updated are kept as they are. Ordered as CONDITION_ORDER.
 */
export function mergeConditions(
  existing: Condition[] | undefined,
  updates: ConditionUpdate[],
  observedGeneration: number | undefined,
  now: Date,
): { conditions: Condition[]; transitions: Transition[] } {
  const byType = new Map((existing ?? []).map((c) => [c.type, c]));
  const transitions: Transition[] = [];
  const stamp = rfc3339(now);
  for (const u of updates) {
    const old = byType.get(u.type);
    const flipped = !old || old.status !== u.status;
    if (flipped)
      transitions.push({
        type: u.type,
        from: old?.status,
        to: u.status,
        reason: u.reason,
        message: u.message,
      });
    const c: Condition = {
      type: u.type,
      status: u.status,
      lastTransitionTime: flipped ? stamp : old.lastTransitionTime,
      reason: u.reason,
      message: u.message,
    };
    if (observedGeneration !== undefined) c.observedGeneration = observedGeneration;
    byType.set(u.type, c);
  }
  const ordered = [
    ...CONDITION_ORDER.filter((t) => byType.has(t)).map((t) => byType.get(t)!),
    ...[...byType.values()].filter((c) => !(CONDITION_ORDER as string[]).includes(c.type)),
  ];
  return { conditions: ordered, transitions };
}

export type Phase = 'Pending' | 'Ready' | 'Degraded' | 'Failed' | 'Terminating';

/** Failed: the spec or an apply is wrong. Degraded: was ready, is not now. Pending: not yet ready. */
export function phaseOf(conditions: Condition[], previous: string | undefined, terminating: boolean): Phase {
  if (terminating) return 'Terminating';
  const ready = conditions.find((c) => c.type === CONDITION.Ready);
  if (ready?.status === 'True') return 'Ready';
  if (ready?.reason === REASON.InvalidSpec || ready?.reason === REASON.ApplyFailed) return 'Failed';
  if (previous === 'Ready' || previous === 'Degraded') return 'Degraded';
  return 'Pending';
}

export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
