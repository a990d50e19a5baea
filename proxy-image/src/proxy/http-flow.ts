// One HTTP exchange through the proxy: read the request (body bounded by the policy), inspect,
// inject secrets towards their own hosts, forward over a pooled connection, and relay the
// response with secrets redacted (streaming, with Content-Length kept where it can be).
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { SecureContext } from 'node:tls';
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import type { AuditRecord } from '../audit/record.ts';
import { resultsOf } from '../audit/record.ts';
import type { ChainResult, HeaderPair, RequestMessage } from '../inspect/types.ts';
import { checkLiteral, SsrfError } from '../net/lookup.ts';
import { authorityOf, EMPTY, type Core, type RequestTarget } from './core.ts';
import { forwardHeaders, pairsFromRaw, REQUEST_DROP } from './headers.ts';
import { sendRefusal, type Refusal } from './respond.ts';
import type { ProxyState } from './state.ts';

/** Responses up to this size (with a Content-Length) are redacted whole and keep an exact length. */
const BUFFER_REDACT_MAX = 1024 * 1024;
const DECODABLE = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

const TOO_LARGE = Symbol('too-large');
const ABORTED = Symbol('aborted');

interface RequestFraming {
  length: number | undefined; // Content-Length
  chunked: boolean;
}

function framing(pairs: readonly HeaderPair[]): RequestFraming {
  let length: number | undefined;
  let chunked = false;
  for (const [k, v] of pairs) {
    if (k.length === 14 && k.toLowerCase() === 'content-length') length = Number(v);
    else if (k.length === 17 && k.toLowerCase() === 'transfer-encoding') chunked = true;
  }
  return { length, chunked };
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | typeof TOO_LARGE | typeof ABORTED> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (v: Buffer | typeof TOO_LARGE | typeof ABORTED) => {
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('close', onClose);
      resolve(v);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.pause();
        done(TOO_LARGE);
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    const onClose = () => done(ABORTED);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
  });
}

function failClosed(inspector: string, e: unknown): ChainResult {
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

/** Narrows a decision to what the audit and metrics use. */
function decisionOf(chain: ChainResult): 'allow' | 'flag' | 'block' {
  return chain.decision;
}

/** Upstream failure -> what the agent is told, and the metric reason. */
function upstreamRefusal(e: NodeJS.ErrnoException, t: RequestTarget): { refusal: Refusal; metric: string } {
  const base = { host: t.host, path: t.path };
  if (e instanceof SsrfError || e.code === 'ESSRF') {
    return {
      refusal: { status: 403, error: 'blocked', inspector: 'ssrf', reason: (e as SsrfError).reason, ...base },
      metric: 'ssrf',
    };
  }
  const code = e.code ?? '';
  if (code === 'ETIMEDOUT' || code === 'UPSTREAM_TIMEOUT')
    return {
      refusal: {
        status: 504,
        error: 'upstream-timeout',
        reason: `no connection within the timeout`,
        ...base,
      },
      metric: 'timeout',
    };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return {
      refusal: {
        status: 502,
        error: 'upstream-error',
        reason: `cannot resolve ${t.host} (${code})`,
        ...base,
      },
      metric: 'dns',
    };
  if (code === 'ECONNREFUSED')
    return {
      refusal: { status: 502, error: 'upstream-error', reason: 'connection refused', ...base },
      metric: 'refused',
    };
  if (/CERT|SELF_SIGNED|UNABLE_TO|ALTNAME|SSL|TLS/.test(code))
    return {
      refusal: {
        status: 502,
        error: 'upstream-error',
        reason: `upstream TLS failed (${code}): its certificate is not trusted for ${t.host}`,
        ...base,
      },
      metric: 'tls',
    };
  return {
    refusal: {
      status: 502,
      error: 'upstream-error',
      reason: `upstream failed (${code || e.message})`,
      ...base,
    },
    metric: code === 'ECONNRESET' || code === 'EPIPE' ? 'reset' : 'other',
  };
}

export function handleRequest(core: Core, req: IncomingMessage, res: ServerResponse, t: RequestTarget): void {
  new Exchange(core, core.state, req, res, t).run().catch((e: Error) => {
    core.log('error', 'request handling failed', { error: e.message, host: t.host });
    if (!res.headersSent)
      sendRefusal(
        res,
        { status: 502, error: 'upstream-error', reason: 'internal error', host: t.host },
        true,
      );
    else res.destroy();
  });
}

class Exchange {
  private readonly started = Date.now();
  private readonly pairs: HeaderPair[];
  private body: Buffer = EMPTY;
  private chain: ChainResult | undefined;
  private injected: string[] = [];
  private redacted = new Set<string>();
  private bytesOut = 0;
  private bytesIn = 0;
  private status = 0;
  private recorded = false;
  private failed = false;
  private capturing = false;
  private captured: Buffer[] = [];
  private capturedSize = 0;
  private wireRequest: { path: string; headers: HeaderPair[]; body: Buffer } | undefined;
  private responseHeaders: HeaderPair[] = [];

  constructor(
    private readonly core: Core,
    private readonly state: ProxyState,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly t: RequestTarget,
  ) {
    this.pairs = pairsFromRaw(req.rawHeaders);
  }

  async run(): Promise<void> {
    const { state, t, req } = this;
    const f = framing(this.pairs);
    const limit = state.bodyLimit(t.host);
    if (f.length !== undefined && f.length > limit) {
      return this.refuse(
        {
          status: 403,
          error: 'blocked',
          inspector: 'bodySize',
          reason: `request body of ${f.length} bytes is over the ${limit}-byte limit for ${t.host}`,
        },
        'block',
        true,
      );
    }
    if (f.chunked || (f.length ?? 0) > 0) {
      const b = await readBody(req, limit);
      if (b === ABORTED) return;
      if (b === TOO_LARGE) {
        return this.refuse(
          {
            status: 403,
            error: 'blocked',
            inspector: 'bodySize',
            reason: `request body is over the ${limit}-byte limit for ${t.host}`,
          },
          'block',
          true,
        );
      }
      this.body = b;
    } else req.resume();

    const msg: RequestMessage = {
      kind: 'request',
      method: req.method ?? 'GET',
      scheme: t.scheme,
      host: t.host,
      port: t.port,
      path: t.path,
      headers: this.pairs,
      body: this.body,
    };
    let chain: ChainResult;
    try {
      chain = await state.inspectors.inspectRequest(msg, this.started);
    } catch (e) {
      chain = failClosed('inspectors', e);
    }
    this.chain = chain;
    this.core.metrics.inspectorTimings(chain.timings);
    if (chain.decision === 'block') {
      const v = chain.blockedBy;
      return this.refuse(
        {
          status: 403,
          error: 'blocked',
          inspector: v?.inspector ?? 'unknown',
          reason: v?.reason ?? 'blocked',
          severity: v?.severity,
        },
        'block',
      );
    }
    if (!state.rateLimiter.take(t.host, this.started)) {
      this.core.metrics.rateLimited.inc();
      return this.refuse(
        {
          status: 429,
          error: 'blocked',
          inspector: 'rate-limit',
          reason: `more than the allowed requests per second to ${t.host}`,
          retryAfter: state.rateLimiter.retryAfter(t.host),
        },
        'rate-limited',
      );
    }
    this.capturing = this.core.audit.wantsCapture(t.host, decisionOf(chain));
    this.forward();
  }

  private forward(): void {
    const { state, t, req, res } = this;
    const swap = state.inspectors.swap;
    const head = swap.injectHead(t.host, t.path, this.pairs);
    let body = this.body;
    const injected = head.injected.slice();
    if (body.length > 0) {
      const b = swap.injectBody(t.host, body);
      body = b.body;
      for (const n of b.injected) if (!injected.includes(n)) injected.push(n);
    }
    this.injected = injected;
    if (this.capturing && this.core.audit.harView === 'wire')
      this.wireRequest = { path: head.path, headers: head.headers, body };

    if (isIP(t.host) !== 0) {
      const refused = checkLiteral(state.ssrf, t.host);
      if (refused) return this.upstreamFailed(refused);
    }
    const flat = forwardHeaders(head.headers, { drop: REQUEST_DROP });
    if (state.hasSecrets) restrictAcceptEncoding(flat);
    flat.push('Host', authorityOf(t.host, t.port, t.scheme));
    const f = framing(this.pairs);
    if (body.length > 0 || f.chunked || f.length !== undefined)
      flat.push('Content-Length', String(body.length));

    const secure = t.scheme === 'https';
    const options: https.RequestOptions & { secureContext?: SecureContext } = {
      host: t.host,
      port: t.port,
      method: req.method,
      path: head.path,
      headers: flat as unknown as http.OutgoingHttpHeaders,
      setHost: false,
      agent: secure ? state.upstream.https : state.upstream.http,
      lookup: state.upstream.lookup,
    };
    if (secure) options.secureContext = state.upstream.secureContext;
    const up = (secure ? https : http).request(options);
    up.on('socket', (s) => {
      if (!s.connecting) return;
      const timer = setTimeout(() => {
        const e = new Error('upstream connect timeout') as NodeJS.ErrnoException;
        e.code = 'UPSTREAM_TIMEOUT';
        up.destroy(e);
      }, state.upstream.connectTimeoutMs);
      s.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(timer));
      s.once('close', () => clearTimeout(timer));
    });
    up.on('response', (upRes) => {
      this.relay(upRes).catch((e: Error) => {
        this.core.log('error', 'response relay failed', { error: e.message, host: t.host });
        upRes.destroy();
        res.destroy();
      });
    });
    up.on('error', (e: NodeJS.ErrnoException) => this.upstreamFailed(e));
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    this.bytesOut = body.length;
    this.core.metrics.bytesOut.inc(body.length);
    up.end(body.length > 0 ? body : undefined);
  }

  private upstreamFailed(e: NodeJS.ErrnoException): void {
    if (this.failed || this.recorded) return;
    this.failed = true;
    const { refusal, metric } = upstreamRefusal(e, this.t);
    if (metric !== 'ssrf') this.core.metrics.upstreamError(metric);
    if (this.res.headersSent) {
      // Mid-response: the agent sees a cut connection, never a truncated body passed off as whole.
      this.res.destroy();
      this.finish(this.chain ? decisionOf(this.chain) : 'error', `upstream failed mid-response (${metric})`);
      return;
    }
    this.refuse(refusal, metric === 'ssrf' ? 'block' : 'error');
  }

  private async relay(upRes: IncomingMessage): Promise<void> {
    const { state, t, req, res } = this;
    const status = upRes.statusCode ?? 502;
    let pairs = pairsFromRaw(upRes.rawHeaders);
    if (state.hasSecrets) {
      const r = state.inspectors.swap.redactHeaders(pairs);
      pairs = r.headers;
      for (const n of r.redacted) this.redacted.add(n);
    }
    let rchain: ChainResult;
    try {
      rchain = await state.inspectors.inspectResponse(
        { kind: 'response', host: t.host, status, headers: pairs, body: EMPTY },
        Date.now(),
      );
    } catch (e) {
      rchain = failClosed('inspectors', e);
    }
    this.core.metrics.inspectorTimings(rchain.timings);
    if (rchain.decision === 'block') {
      upRes.destroy();
      this.chain = rchain;
      const v = rchain.blockedBy;
      return this.refuse(
        {
          status: 403,
          error: 'blocked',
          inspector: v?.inspector ?? 'unknown',
          reason: `response refused: ${v?.reason ?? 'blocked'}`,
          severity: v?.severity,
        },
        'block',
      );
    }
    if (rchain.flags.length > 0 && this.chain) {
      this.chain = { ...this.chain, decision: 'flag', flags: [...this.chain.flags, ...rchain.flags] };
    }
    this.status = status;
    const noBody =
      req.method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
    const message = upRes.statusMessage;

    if (noBody) {
      this.responseHeaders = pairs;
      res.writeHead(status, message, forwardHeaders(pairs));
      res.end();
      upRes.resume();
      res.once('finish', () => this.finish(decisionOf(this.chain!)));
      return;
    }

    let encoding = '';
    let length: number | undefined;
    for (const [k, v] of pairs) {
      const l = k.toLowerCase();
      if (l === 'content-encoding') encoding = v.trim().toLowerCase();
      else if (l === 'content-length') length = Number(v);
    }
    let decoder: Transform | undefined;
    let redactor: ReturnType<typeof state.inspectors.swap.createRedactor> | undefined;
    let outHeaders: string[];
    if (!state.hasSecrets) {
      outHeaders = forwardHeaders(pairs);
    } else {
      redactor = state.inspectors.swap.createRedactor();
      if (encoding !== '' && encoding !== 'identity') {
        if (!DECODABLE.has(encoding)) {
          upRes.destroy();
          return this.refuse(
            {
              status: 502,
              error: 'upstream-error',
              reason: `response Content-Encoding "${encoding}" cannot be redacted (only gzip, deflate and br can)`,
            },
            'error',
          );
        }
        decoder =
          encoding === 'br'
            ? zlib.createBrotliDecompress()
            : encoding === 'deflate'
              ? zlib.createInflate()
              : zlib.createGunzip();
        outHeaders = forwardHeaders(pairs, { drop: new Set(['content-length', 'content-encoding']) });
      } else if (length !== undefined && length <= BUFFER_REDACT_MAX) {
        return this.relayBuffered(upRes, status, message, pairs, redactor);
      } else {
        outHeaders = forwardHeaders(pairs, { drop: new Set(['content-length']) });
      }
    }
    this.responseHeaders = headerPairsOf(outHeaders);
    res.writeHead(status, message, outHeaders);
    const source = decoder ? upRes.pipe(decoder) : upRes;
    decoder?.on('error', () => {
      upRes.destroy();
      res.destroy();
    });
    source.on('data', (chunk: Buffer) => {
      const out = redactor ? redactor.push(chunk) : chunk;
      if (out.length === 0) return;
      this.delivered(out);
      if (!res.write(out)) {
        source.pause();
        res.once('drain', () => source.resume());
      }
    });
    source.once('end', () => {
      const tail = redactor ? redactor.end() : EMPTY;
      if (tail.length > 0) this.delivered(tail);
      if (redactor) for (const n of redactor.redacted) this.redacted.add(n);
      res.end(tail.length > 0 ? tail : undefined);
    });
    upRes.once('close', () => {
      if (!upRes.complete) this.upstreamFailed(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    });
    res.once('finish', () => this.finish(decisionOf(this.chain!)));
  }

  private relayBuffered(
    upRes: IncomingMessage,
    status: number,
    message: string | undefined,
    pairs: HeaderPair[],
    redactor: { push(c: Buffer): Buffer; end(): Buffer; readonly redacted: ReadonlySet<string> },
  ): void {
    const parts: Buffer[] = [];
    let size = 0;
    upRes.on('data', (c: Buffer) => {
      const out = redactor.push(c);
      if (out.length > 0) {
        parts.push(out);
        size += out.length;
      }
    });
    upRes.once('end', () => {
      const tail = redactor.end();
      if (tail.length > 0) {
        parts.push(tail);
        size += tail.length;
      }
      for (const n of redactor.redacted) this.redacted.add(n);
      const body = parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
      const out = forwardHeaders(pairs, { drop: new Set(['content-length']) });
      out.push('Content-Length', String(body.length));
      this.responseHeaders = headerPairsOf(out);
      this.delivered(body);
      this.res.writeHead(status, message, out);
      this.res.end(body);
    });
    upRes.once('close', () => {
      if (!upRes.complete) this.upstreamFailed(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    });
    this.res.once('finish', () => this.finish(decisionOf(this.chain!)));
  }

  private delivered(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.core.metrics.bytesIn.inc(chunk.length);
    if (this.capturing && this.capturedSize < this.core.audit.captureLimit) {
      const room = this.core.audit.captureLimit - this.capturedSize;
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.captured.push(Buffer.from(part));
      this.capturedSize += part.length;
    }
  }

  private refuse(r: Omit<Refusal, 'host'>, decision: AuditRecord['decision'], close = false): void {
    const full: Refusal = { ...r, host: this.t.host, method: this.req.method, path: this.t.path };
    // Never echo a path that might carry a long query (it may hold the very secret we refused).
    if (full.path && full.path.length > 256) full.path = full.path.slice(0, 256) + '...';
    this.status = r.status;
    const body = sendRefusal(this.res, full, close);
    this.responseHeaders = [['content-type', 'application/json']];
    if (this.core.audit.wantsCapture(this.t.host, decision)) {
      this.capturing = true;
      this.delivered(body);
    } else this.bytesIn += body.length;
    this.finish(decision, r.reason, r.inspector, r.severity);
  }

  private finish(
    decision: AuditRecord['decision'],
    reason?: string,
    inspector?: string,
    severity?: AuditRecord['severity'],
  ): void {
    if (this.recorded) return;
    this.recorded = true;
    const { t, core } = this;
    const metricDecision = decision === 'rate-limited' ? 'rate_limited' : decision;
    core.metrics.request(metricDecision, t.scheme);
    const chain = this.chain;
    const rec: Omit<AuditRecord, 'time' | 'cage'> = {
      kind: 'http',
      direction: 'outbound',
      listener: t.listener,
      client: this.req.socket.remoteAddress,
      scheme: t.scheme,
      method: this.req.method,
      host: t.host,
      port: t.port,
      path: t.path,
      status: this.status,
      decision,
      results: resultsOf(chain),
      injected: this.injected,
      redacted: [...this.redacted],
      bytesOut: this.bytesOut,
      bytesIn: this.bytesIn,
      durationMs: Date.now() - this.started,
    };
    if (inspector !== undefined) rec.inspector = inspector;
    if (reason !== undefined) rec.reason = reason;
    if (severity !== undefined) rec.severity = severity;
    if (decision === 'flag' && chain?.flags[0]) {
      rec.inspector = chain.flags[0].inspector;
      rec.reason = chain.flags[0].reason;
      rec.severity = chain.flags[0].severity;
    }
    core.audit.record(rec);
    if (this.capturing) {
      const wire = this.wireRequest;
      const url = `${t.scheme}://${authorityOf(t.host, t.port, t.scheme)}${wire?.path ?? t.path}`;
      const reqBody = wire?.body ?? this.body;
      core.audit.capture({
        started: this.started,
        durationMs: Date.now() - this.started,
        method: this.req.method ?? 'GET',
        url,
        requestHeaders: wire?.headers ?? this.pairs,
        requestBody: reqBody.subarray(0, core.audit.captureLimit),
        requestBodySize: reqBody.length,
        status: this.status,
        statusText: this.res.statusMessage ?? '',
        responseHeaders: this.responseHeaders,
        responseBody: Buffer.concat(this.captured),
        responseBodySize: this.bytesIn,
        decision: String(decision),
        inspector: rec.inspector,
        reason: rec.reason,
      });
    }
  }
}

function headerPairsOf(flat: readonly string[]): HeaderPair[] {
  const out: HeaderPair[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

/** Only encodings the proxy can decode to redact (in place, on the flat header list). */
function restrictAcceptEncoding(flat: string[]): void {
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i].toLowerCase() !== 'accept-encoding') continue;
    const kept = flat[i + 1]
      .split(',')
      .map((s) => s.trim())
      .filter((tok) => {
        const name = tok.split(';')[0].trim().toLowerCase();
        return DECODABLE.has(name) || name === 'identity';
      });
    flat[i + 1] = kept.length > 0 ? kept.join(', ') : 'identity';
  }
}

/** Refuses a request before it has a target the Exchange can use (routing failures), and audits it. */
export function refuseRequest(
  core: Core,
  req: IncomingMessage,
  res: ServerResponse,
  r: Refusal,
  listener: RequestTarget['listener'],
  scheme: 'http' | 'https',
): void {
  req.resume();
  sendRefusal(res, r, true);
  core.metrics.request(r.error === 'blocked' ? 'block' : 'error', scheme);
  core.audit.record({
    kind: 'http',
    direction: 'outbound',
    listener,
    client: req.socket.remoteAddress,
    scheme,
    method: req.method,
    host: r.host,
    path: (req.url ?? '').slice(0, 256),
    status: r.status,
    decision: r.error === 'blocked' ? 'block' : 'error',
    inspector: r.inspector,
    reason: r.reason,
    results: [],
    injected: [],
    redacted: [],
    bytesOut: 0,
    bytesIn: 0,
  });
}
