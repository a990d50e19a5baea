// What every flow handler needs: the policy generation in force and the shared sinks.
import type { Auditor } from '../audit/auditor.ts';
import type { Logger } from '../log.ts';
import type { ProxyMetrics } from '../metrics/metrics.ts';
import type { LeafContexts } from '../tls/leaf-contexts.ts';
import type { ProxyState } from './state.ts';

export interface Core {
  /** the newest policy generation; read it once per request and keep using that one */
  readonly state: ProxyState;
  readonly metrics: ProxyMetrics;
  readonly audit: Auditor;
  readonly leafs: LeafContexts;
  readonly log: Logger;
}

export type Listener = 'forward' | 'transparent';

/** Where one request goes, however it was addressed. */
export interface RequestTarget {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  path: string;
  listener: Listener;
}

export const EMPTY = Buffer.alloc(0);

export function authorityOf(host: string, port: number, scheme: 'http' | 'https'): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return port === (scheme === 'https' ? 443 : 80) ? h : `${h}:${port}`;
}
