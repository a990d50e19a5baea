// HAR 1.2 capture of flows. The file is valid JSON after every batch: each entry is written over
// the closing brackets, which are then written again after it (positional writes), so a reader
// never sees a half file and a crash loses at most the last batch.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { HeaderPair } from '../inspect/types.ts';

const TRAILER = '\n]}}\n';

export interface FlowCapture {
  started: number; // ms since epoch
  durationMs: number;
  method: string;
  url: string;
  requestHeaders: readonly HeaderPair[];
  requestBody: Buffer;
  requestBodySize: number;
  status: number;
  statusText: string;
  responseHeaders: readonly HeaderPair[];
  responseBody: Buffer;
  responseBodySize: number;
  decision: string;
  inspector?: string;
  reason?: string;
}

const isUtf8 = (b: Buffer) => {
  // Buffer.isUtf8 arrived in node 18.14/19.4.
  const f = (Buffer as unknown as { isUtf8?: (b: Buffer) => boolean }).isUtf8;
  return f ? f(b) : !b.toString('utf8').includes('\ufffd');
};

function headerList(pairs: readonly HeaderPair[]) {
  return pairs.map(([name, value]) => ({ name, value }));
}

function mime(pairs: readonly HeaderPair[]): string {
  for (const [k, v] of pairs) if (k.toLowerCase() === 'content-type') return v;
  return '';
}

function bodyText(b: Buffer): { text: string; encoding?: 'base64' } {
  return isUtf8(b) ? { text: b.toString('utf8') } : { text: b.toString('base64'), encoding: 'base64' };
}

export function harEntry(f: FlowCapture): object {
  let query: Array<{ name: string; value: string }> = [];
  try {
    query = [...new URL(f.url).searchParams].map(([name, value]) => ({ name, value }));
  } catch {
    query = [];
  }
  const request: Record<string, unknown> = {
    method: f.method,
    url: f.url,
    httpVersion: 'HTTP/1.1',
    cookies: [],
    headers: headerList(f.requestHeaders),
    queryString: query,
    headersSize: -1,
    bodySize: f.requestBodySize,
  };
  if (f.requestBodySize > 0)
    request.postData = { mimeType: mime(f.requestHeaders), ...bodyText(f.requestBody) };
  return {
    startedDateTime: new Date(f.started).toISOString(),
    time: f.durationMs,
    request,
    response: {
      status: f.status,
      statusText: f.statusText,
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: headerList(f.responseHeaders),
      content: { size: f.responseBodySize, mimeType: mime(f.responseHeaders), ...bodyText(f.responseBody) },
      redirectURL: '',
      headersSize: -1,
      bodySize: f.responseBodySize,
    },
    cache: {},
    timings: { send: 0, wait: f.durationMs, receive: 0 },
    _agentcage: { decision: f.decision, inspector: f.inspector, reason: f.reason },
  };
}

export class HarWriter {
  private readonly fd: number;
  private pos: number;
  private first = true;
  private queue: string[] = [];
  private scheduled = false;
  private closed = false;
  scrub: (s: string) => string = (s) => s;

  constructor(path: string, view: 'agent' | 'wire') {
    this.fd = openSync(path, 'w', 0o640);
    const head =
      JSON.stringify({
        log: {
          version: '1.2',
          creator: { name: 'agentcage-proxy', version: '0.1.0' },
          comment: `${view} view`,
        },
      }).slice(0, -2) + ',"entries":[\n';
    writeSync(this.fd, head + TRAILER);
    this.pos = Buffer.byteLength(head);
  }

  add(entry: object): void {
    if (this.closed) return;
    this.queue.push(JSON.stringify(entry));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0 || this.closed) return;
    let data = '';
    for (const e of this.queue) {
      data += (this.first ? '' : ',\n') + this.scrub(e);
      this.first = false;
    }
    this.queue = [];
    const body = Buffer.from(data);
    const all = Buffer.concat([body, Buffer.from(TRAILER)]);
    let off = 0;
    while (off < all.length) off += writeSync(this.fd, all, off, all.length - off, this.pos + off);
    this.pos += body.length;
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    closeSync(this.fd);
  }
}
