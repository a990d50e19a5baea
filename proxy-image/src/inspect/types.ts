// The contract between the proxy's I/O (proxy-image/src/proxy/) and the pure inspectors
// (proxy-image/src/inspect/). Nothing here touches a socket.
import type { ProxyPolicy } from '../../../operator/api/policy.ts';

export type Decision = 'allow' | 'flag' | 'block';
export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';

/** What one inspector concluded about one message. */
export interface Verdict {
  decision: Decision;
  inspector: string;
  reason: string;
  severity: Severity;
}

/** Raw header pairs in wire order, names as sent (HTTP/1 allows repeats). */
export type HeaderPair = [name: string, value: string];

export interface RequestMessage {
  kind: 'request';
  method: string;
  scheme: 'http' | 'https';
  host: string; // lower case, no port
  port: number;
  path: string; // origin-form: path plus query
  headers: HeaderPair[];
  body: Buffer; // what has been read (bounded by the body-size limit)
}

export interface ResponseMessage {
  kind: 'response';
  host: string;
  status: number;
  headers: HeaderPair[];
  body: Buffer;
}

export interface WebSocketFrameMessage {
  kind: 'websocket';
  direction: 'outbound' | 'inbound';
  host: string;
  path: string;
  binary: boolean;
  data: Buffer;
}

export interface DnsQueryMessage {
  kind: 'dns';
  name: string; // lower case, no trailing dot
  qtype: string; // 'A', 'AAAA', 'TXT', ...
}

export type Message = RequestMessage | ResponseMessage | WebSocketFrameMessage | DnsQueryMessage;

export interface InspectContext {
  policy: ProxyPolicy;
  now: number; // ms since epoch; passed in so inspectors stay pure
}

/** One inspector. Returning undefined means "nothing to say" (allow). Throwing blocks (fail closed). */
export interface Inspector {
  readonly name: string;
  inspect(msg: Message, ctx: InspectContext): Verdict | undefined | Promise<Verdict | undefined>;
}

/** What the chain concluded: the first block stops it; flags are collected. */
export interface ChainResult {
  decision: Decision;
  blockedBy?: Verdict;
  flags: Verdict[];
  /** per-inspector wall time in seconds, for the latency histogram */
  timings: Array<[inspector: string, seconds: number]>;
}
