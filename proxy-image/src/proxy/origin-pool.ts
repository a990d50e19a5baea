// Keep-alive HTTP/1.1 connections to one origin, parsed by node's native llhttp (the parser
// node:http uses). It replaced undici: undici parses with a WebAssembly build of the same
// parser, and the WebAssembly engine alone kept about 9 MB resident in the proxy (bench/proxy).
// One request per connection at a time (no pipelining). A connection goes back to the pool
// only after a complete response with keep-alive and nothing after it: a server that sends
// more than it was asked for is cut off, so one request's leftovers can never become the next
// one's response. llhttp reads every head; a Content-Length body is counted out here instead,
// so its bytes reach the caller as views of the read buffer rather than as a copy per chunk
// (the parser copies every body chunk into a new buffer).
import net, { isIP, type LookupFunction } from 'node:net';
import tls, { type SecureContext } from 'node:tls';
import { HTTPParser } from 'node:_http_common';

/** What a caller gets from one exchange, in order: head, body chunks, then complete or error. */
export interface ResponseHandler {
  /** `abort` stops the exchange and closes its connection; it does not call onError. */
  onConnect(abort: () => void): void;
  /** flat [name, value, ...] as received; false pauses the body until `resume` */
  onHeaders(status: number, headers: string[], resume: () => void, statusText: string): boolean;
  /**
   * false pauses reading until `resume`. `volatile`: the bytes lie in the shared read buffer,
   * which the next read overwrites, so they are valid only during this call: copy what is kept.
   */
  onData(chunk: Buffer, volatile: boolean): boolean;
  onComplete(): void;
  onError(err: Error): void;
}

export interface OutgoingRequest {
  method: string;
  path: string;
  /** flat [name, value, ...]; Host and Content-Length included by the caller */
  headers: string[];
  body: Buffer | null;
}

export interface OriginOptions {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  lookup: LookupFunction;
  secureContext: SecureContext;
  connectTimeoutMs: number;
  /** idle keep-alive connections are closed after this (or the server's Keep-Alive hint) */
  idleTimeoutMs?: number;
  /** no byte from the server for this long while a response is awaited or read: ETIMEDOUT */
  responseTimeoutMs?: number;
  maxIdle?: number;
  /** how often idle connections the last period did not need are closed (see trimIdle) */
  idleTrimMs?: number;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE_BAD = /[^\t\x20-\x7e\x80-\xff]/;
const PATH_BAD = /[^\x21-\x7e\x80-\xff]/;
/** RFC 9110 9.2.2: safe to send again when a reused connection died before any answer */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const MAX_HEADER_BYTES = 16 * 1024;
const IDLE_TRIM_MS = 5_000;
/**
 * Every upstream socket reads into this one buffer (net's `onread`): no read buffer per socket
 * read, which at 64 KiB responses was about 5 MB of peak RSS waiting for the garbage collector.
 * The parser copies out what it keeps; Content-Length bodies go to the caller as volatile views.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

function errorWithCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The request line and header block, or a thrown EINVAL naming what cannot go on the wire. */
export function serializeHead(r: OutgoingRequest): string {
  if (!TOKEN.test(r.method)) throw errorWithCode(`method "${r.method}" is not an HTTP token`, 'EINVAL');
  if (r.path.length === 0 || PATH_BAD.test(r.path))
    throw errorWithCode('request target has spaces or control characters', 'EINVAL');
  let head = `${r.method} ${r.path} HTTP/1.1\r\n`;
  const h = r.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    const value = h[i + 1];
    if (!TOKEN.test(name)) throw errorWithCode(`header name "${name}" is not an HTTP token`, 'EINVAL');
    if (FIELD_VALUE_BAD.test(value))
      throw errorWithCode(`header ${name} has a value with characters HTTP cannot carry`, 'EINVAL');
    head += `${name}: ${value}\r\n`;
  }
  return head + '\r\n';
}

/** One request and its response, possibly moved once to a fresh connection (see lost). */
class Roundtrip {
  conn: Connection | undefined;
  done = false;
  /** a response head arrived: the request can no longer be sent again */
  answered = false;
  retried = false;
  paused = false;
  constructor(
    readonly pool: OriginPool,
    readonly req: OutgoingRequest,
    readonly head: string,
    readonly handler: ResponseHandler,
  ) {}

  readonly abort = (): void => {
    if (this.done) return;
    this.done = true;
    this.conn?.destroy();
  };

  readonly resume = (): void => {
    if (!this.paused) return;
    this.paused = false;
    this.conn?.socket.resume();
  };

  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.handler.onError(err);
  }
}

class Connection {
  readonly parser = new HTTPParser();
  ex: Roundtrip | undefined;
  /** every exchange after the first: the server may have closed it while it sat idle */
  reused = false;
  private keepAlive = false;
  /** the server broke the protocol or the exchange was cut: never reuse */
  private broken = false;
  private pending: string[] = [];
  private idleMs: number;
  private closed = false;
  /** bytes of a Content-Length body still to come, counted here rather than by the parser */
  private bodyLeft = 0;

  constructor(
    readonly pool: OriginPool,
    readonly socket: net.Socket,
  ) {
    this.idleMs = pool.idleTimeoutMs;
    const p = this.parser;
    p.initialize(HTTPParser.RESPONSE, {}, MAX_HEADER_BYTES, HTTPParser.kLenientNone);
    // A message starting with no request waiting (even a partial one after a complete
    // response): the server sends what nobody asked for, so the connection is cut.
    p[HTTPParser.kOnMessageBegin] = () => {
      if (this.ex === undefined || this.ex.done) this.broken = true;
    };
    // Heads with many fields arrive in batches before the final callback.
    p[HTTPParser.kOnHeaders] = (headers: string[]) => {
      for (const x of headers) this.pending.push(x);
    };
    p[HTTPParser.kOnHeadersComplete] = this.onHead;
    p[HTTPParser.kOnBody] = this.onBody;
    p[HTTPParser.kOnMessageComplete] = this.onMessageComplete;
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    socket.on('timeout', this.onSocketTimeout);
  }

  start(ex: Roundtrip): void {
    this.ex = ex;
    ex.conn = this;
    this.keepAlive = false;
    this.socket.setTimeout(this.pool.responseTimeoutMs);
    const body = ex.req.body;
    if (body && body.length > 0) {
      this.socket.cork();
      this.socket.write(ex.head, 'latin1');
      this.socket.write(body);
      this.socket.uncork();
    } else this.socket.write(ex.head, 'latin1');
  }

  destroy(): void {
    this.broken = true;
    this.socket.destroy();
  }

  private readonly onHead = (
    _major: number,
    _minor: number,
    headers: string[] | undefined,
    _method: unknown,
    _url: unknown,
    status: number,
    statusText: string,
    upgrade: boolean,
    shouldKeepAlive: boolean,
  ): number => {
    let flat = headers;
    if (flat === undefined || this.pending.length > 0) {
      flat = this.pending.concat(flat ?? []);
      this.pending = [];
    }
    const ex = this.ex;
    if (ex === undefined || ex.done || upgrade || status === 101) {
      // A response nobody asked for, or a protocol switch nobody asked for.
      this.broken = true;
      return 2; // stop parsing; the connection is closed after this chunk
    }
    if (status < 200) return 0; // 1xx informational: the final head follows
    ex.answered = true;
    this.keepAlive = shouldKeepAlive;
    if (shouldKeepAlive) this.idleMs = keepAliveHint(flat, this.pool.idleTimeoutMs);
    if (!ex.handler.onHeaders(status, flat, ex.resume, statusText)) this.pause(ex);
    if (ex.req.method === 'HEAD') return 1;
    const length = status === 204 || status === 304 ? 0 : contentLength(flat);
    if (length <= 0) return 0;
    // The parser ends the message at the head and execute() returns where the head ended
    // (llhttp's skip-body-and-pause answer); onRead counts the body out from there.
    this.bodyLeft = length;
    return 2;
  };

  private readonly onBody = (chunk: Buffer): void => {
    const ex = this.ex;
    if (ex === undefined || ex.done) return;
    if (!ex.handler.onData(chunk, false)) this.pause(ex);
  };

  private readonly onMessageComplete = (): void => {
    if (this.bodyLeft > 0) return; // the parser stopped at the head of a counted body
    const ex = this.ex;
    if (ex === undefined || !ex.answered) return; // end of a 1xx
    this.ex = undefined;
    if (!ex.done) {
      ex.done = true;
      ex.handler.onComplete();
    }
    if (ex.paused) {
      ex.paused = false;
      this.socket.resume();
    }
  };

  private pause(ex: Roundtrip): void {
    if (ex.paused || ex.done) return;
    ex.paused = true;
    this.socket.pause();
  }

  /** Bytes from the server (in the shared READ_BUFFER: nothing may keep a view of it). */
  onRead(chunk: Buffer): void {
    if (this.ex === undefined) {
      // Bytes while idle: the server is not speaking HTTP/1.1 as agreed.
      this.destroy();
      return;
    }
    if (this.bodyLeft > 0) {
      this.bodyBytes(chunk);
      return;
    }
    const r = this.parser.execute(chunk);
    if (typeof r !== 'number') {
      const ex = this.ex;
      this.destroy();
      ex?.fail(errorWithCode(`upstream sent a malformed response (${r.code ?? r.message})`, 'EPROTO'));
      return;
    }
    if (this.broken) {
      const ex = this.ex;
      this.destroy();
      ex?.fail(errorWithCode('upstream sent a response that was not asked for', 'EPROTO'));
      return;
    }
    if (this.bodyLeft > 0) {
      if (r < chunk.length) this.bodyBytes(chunk.subarray(r));
      return;
    }
    // The response ended inside this chunk: reuse the connection only if nothing followed it.
    if (this.ex === undefined) {
      if (this.keepAlive && r === chunk.length && !this.socket.destroyed) this.pool.release(this);
      else this.destroy();
    }
  }

  /** Bytes of a Content-Length body (and perhaps what follows it). */
  private bodyBytes(chunk: Buffer): void {
    const ex = this.ex!;
    const n = Math.min(this.bodyLeft, chunk.length);
    this.bodyLeft -= n;
    if (!ex.done && !ex.handler.onData(n === chunk.length ? chunk : chunk.subarray(0, n), true))
      this.pause(ex);
    if (this.bodyLeft > 0) return;
    // Complete: a fresh parser state for the next response on this connection.
    this.parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEADER_BYTES, HTTPParser.kLenientNone);
    this.onMessageComplete();
    // As for parsed bodies: reuse only if nothing followed the body.
    if (this.keepAlive && n === chunk.length && !this.socket.destroyed) this.pool.release(this);
    else this.destroy();
  }

  private readonly onSocketEnd = (): void => {
    // A close-delimited body ends here; a cut one is an error.
    const ex = this.ex;
    if (ex !== undefined && this.bodyLeft > 0) {
      this.destroy();
      this.lost(ex, 'upstream closed the connection before the response was complete');
      return;
    }
    if (ex !== undefined) {
      const r = this.parser.finish();
      if (r instanceof Error && this.ex !== undefined) {
        this.destroy();
        this.lost(ex, 'upstream closed the connection before the response was complete');
        return;
      }
    }
    this.destroy();
  };

  private readonly onSocketError = (err: Error): void => {
    this.broken = true;
    const ex = this.ex;
    if (ex !== undefined) this.lost(ex, undefined, err);
  };

  private readonly onSocketTimeout = (): void => {
    const ex = this.ex;
    this.destroy();
    if (ex !== undefined)
      ex.fail(errorWithCode('upstream sent nothing within the response timeout', 'ETIMEDOUT'));
  };

  private readonly onSocketClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.pool.forget(this);
    const ex = this.ex;
    this.ex = undefined;
    if (ex !== undefined) this.lost(ex, 'upstream closed the connection');
    this.parser.remove();
    // Not from inside a parser callback: let the stack unwind first (as node:http does).
    setImmediate(() => this.parser.close());
  };

  /** The connection died under an exchange: send it again once if that is safe, else fail it. */
  private lost(ex: Roundtrip, message?: string, err?: Error): void {
    if (ex.done) return;
    this.ex = undefined;
    this.broken = true;
    if (this.reused && !ex.answered && !ex.retried && IDEMPOTENT.has(ex.req.method)) {
      ex.retried = true;
      ex.conn = undefined;
      this.pool.connectFor(ex);
      return;
    }
    ex.fail(err ?? errorWithCode(message ?? 'upstream connection lost', 'ECONNRESET'));
  }

  get reusable(): boolean {
    return !this.broken && !this.closed && !this.socket.destroyed;
  }

  /** false when the server allows no idle time at all (Keep-Alive: timeout=1 or less) */
  get mayIdle(): boolean {
    return this.idleMs > 0;
  }

  idle(): void {
    this.reused = true;
    this.socket.setTimeout(this.idleMs);
  }
}

/**
 * The body length a head announces, or -1 when the parser must frame the body (chunked, or
 * read to the end). llhttp has already refused bad, repeated or conflicting lengths.
 */
function contentLength(flat: string[]): number {
  let length = -1;
  for (let i = 0; i < flat.length; i += 2) {
    const n = flat[i];
    if (n.length === 17 && n.toLowerCase() === 'transfer-encoding') return -1;
    if (n.length === 14 && n.toLowerCase() === 'content-length') length = Number(flat[i + 1].trim());
  }
  return Number.isSafeInteger(length) ? length : -1;
}

/** `Keep-Alive: timeout=N` from the server: close our side a second before it closes its side. */
function keepAliveHint(flat: string[], fallbackMs: number): number {
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i].length !== 10 || flat[i].toLowerCase() !== 'keep-alive') continue;
    const m = /(?:^|[\s,])timeout=(\d+)/i.exec(flat[i + 1]);
    if (m) return Math.max(0, Math.min(fallbackMs, Number(m[1]) * 1000 - 1000));
  }
  return fallbackMs;
}

export class OriginPool {
  readonly idleTimeoutMs: number;
  readonly responseTimeoutMs: number;
  private readonly maxIdle: number;
  private readonly idleConns: Connection[] = [];
  private readonly all = new Set<Connection>();
  private session: Buffer | undefined;
  private closing = false;
  /** the fewest idle connections there were at once since the last trim */
  private fewestIdle = 0;
  private trimTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: OriginOptions) {
    this.idleTimeoutMs = o.idleTimeoutMs ?? 30_000;
    this.responseTimeoutMs = o.responseTimeoutMs ?? 600_000;
    this.maxIdle = o.maxIdle ?? 256;
  }

  /** Sends one request; throws (EINVAL) before anything is sent if it cannot be serialized. */
  dispatch(req: OutgoingRequest, handler: ResponseHandler): void {
    const ex = new Roundtrip(this, req, serializeHead(req), handler);
    handler.onConnect(ex.abort);
    if (ex.done) return;
    let conn = this.idleConns.pop();
    while (conn !== undefined && !conn.reusable) conn = this.idleConns.pop();
    if (this.idleConns.length < this.fewestIdle) this.fewestIdle = this.idleConns.length;
    if (conn !== undefined) conn.start(ex);
    else this.connectFor(ex);
  }

  connectFor(ex: Roundtrip): void {
    if (ex.done) return;
    const o = this.o;
    let conn: Connection | undefined;
    const onread = {
      buffer: READ_BUFFER,
      callback: (n: number, buf: Buffer): boolean => {
        conn?.onRead(buf.subarray(0, n));
        return true; // pausing is Connection's job (socket.pause)
      },
    };
    const socket =
      o.scheme === 'https'
        ? tls.connect({
            host: o.host,
            port: o.port,
            servername: isIP(o.host) === 0 ? o.host : undefined,
            secureContext: o.secureContext,
            lookup: o.lookup,
            ALPNProtocols: ['http/1.1'],
            session: this.session,
            // net's onread is a socket.connect option, so tls.connect takes it too.
            onread,
          } as tls.ConnectionOptions)
        : net.connect({ host: o.host, port: o.port, lookup: o.lookup, onread });
    const ready = o.scheme === 'https' ? 'secureConnect' : 'connect';
    const timer = setTimeout(
      () => socket.destroy(errorWithCode(`no connection within ${o.connectTimeoutMs} ms`, 'ETIMEDOUT')),
      o.connectTimeoutMs,
    );
    const failed = (err: Error) => {
      clearTimeout(timer);
      ex.fail(err);
    };
    socket.once('error', failed);
    if (o.scheme === 'https') socket.on('session', (s: Buffer) => (this.session = s));
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.removeListener('error', failed);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 60_000);
      conn = new Connection(this, socket);
      this.all.add(conn);
      if (ex.done || this.closing) {
        conn.destroy();
        return;
      }
      conn.start(ex);
    });
  }

  /** A connection finished a response cleanly: keep it for the next request. */
  release(conn: Connection): void {
    if (this.closing || this.idleConns.length >= this.maxIdle || !conn.mayIdle) {
      conn.destroy();
      return;
    }
    conn.idle();
    this.idleConns.push(conn);
    this.trimTimer ??= setInterval(() => this.trimIdle(), this.o.idleTrimMs ?? IDLE_TRIM_MS).unref();
  }

  /**
   * Closes the idle connections that no request needed during the last period, oldest first,
   * but one. A TLS connection holds about 130 KiB of node's native buffers: after a burst of
   * 50 concurrent requests, the 49 connections a single agent no longer needs would otherwise
   * stay open for the whole idle timeout. A lone client keeps its connection.
   */
  private trimIdle(): void {
    const surplus = Math.min(this.fewestIdle, this.idleConns.length) - 1;
    if (surplus > 0) for (const c of this.idleConns.splice(0, surplus)) c.destroy();
    this.fewestIdle = this.idleConns.length;
    if (this.idleConns.length === 0) this.stopTrim();
  }

  private stopTrim(): void {
    clearInterval(this.trimTimer);
    this.trimTimer = undefined;
  }

  forget(conn: Connection): void {
    this.all.delete(conn);
    const i = this.idleConns.indexOf(conn);
    if (i >= 0) this.idleConns.splice(i, 1);
  }

  /** Closes idle connections now; busy ones close when their response is done. */
  close(): void {
    this.closing = true;
    this.stopTrim();
    for (const c of this.idleConns.splice(0)) c.destroy();
  }

  /** Closes every connection, busy or not. */
  destroy(): void {
    this.closing = true;
    this.stopTrim();
    for (const c of [...this.all]) c.destroy();
    this.idleConns.length = 0;
  }
}
