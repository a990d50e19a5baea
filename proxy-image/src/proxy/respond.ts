// What the agent gets when the proxy says no: a JSON body naming who refused and why.
// Blocks are 403, rate limits 429 (same shape), malformed requests 4xx, upstream trouble 502/504.
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Severity } from '../inspect/types.ts';

export interface Refusal {
  status: number;
  error: 'blocked' | 'bad-request' | 'upstream-error' | 'upstream-timeout';
  inspector?: string;
  reason: string;
  host?: string;
  method?: string;
  path?: string;
  severity?: Severity;
  retryAfter?: number;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
  429: 'Too Many Requests',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
};

export function refusalBody(r: Refusal): Buffer {
  const { status: _status, ...body } = r;
  return Buffer.from(JSON.stringify(body) + '\n');
}

function headers(r: Refusal, body: Buffer, close: boolean): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(body.length),
    'cache-control': 'no-store',
    'x-agentcage-decision': r.error === 'blocked' ? (r.status === 429 ? 'rate-limited' : 'block') : 'error',
  };
  if (r.retryAfter !== undefined) h['retry-after'] = String(r.retryAfter);
  if (close) h.connection = 'close';
  return h;
}

/** Answers on an HTTP exchange; `close` when the request body was not read to its end. */
export function sendRefusal(res: ServerResponse, r: Refusal, close = false): Buffer {
  const body = refusalBody(r);
  if (res.headersSent) {
    res.destroy();
    return body;
  }
  if (close) res.shouldKeepAlive = false;
  res.writeHead(r.status, STATUS_TEXT[r.status] ?? 'Error', headers(r, body, close));
  res.end(body);
  return body;
}

/** Answers on a raw socket (CONNECT, upgrade, parse errors) and closes it. */
export function sendRefusalRaw(socket: Duplex, r: Refusal): Buffer {
  const body = refusalBody(r);
  if (socket.writable) {
    let head = `HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? 'Error'}\r\n`;
    for (const [k, v] of Object.entries(headers(r, body, true))) head += `${k}: ${v}\r\n`;
    socket.end(Buffer.concat([Buffer.from(head + '\r\n'), body]));
  }
  // Let the bytes drain, but never keep a refused socket around.
  const t = setTimeout(() => socket.destroy(), 2000);
  t.unref();
  socket.once('close', () => clearTimeout(t));
  return body;
}
