// One HTTP exchange through the proxy: read the request (body bounded by the policy), inspect,
// inject secrets towards their own hosts, forward over a pooled connection, and relay the
// response with secrets redacted (streaming, with Content-Length kept where it can be).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import type { AuditRecord } from '../audit/record.ts';
import { resultsOf } from '../audit/record.ts';
import type { ChainResult, HeaderPair, RequestMessage } from '../inspect/types.ts';
import { checkLiteral, SsrfError } from '../net/lookup.ts';
import { authorityOf, EMPTY, type Core, type RequestTarget } from './core.ts';
import { forwardHeaders, pairsFromRaw, REQUEST_DROP } from './headers.ts';
import { turnaway, withChain } from './admission.ts';
import { sendRefusal, type Refusal } from './respond.ts';
import type { ResponseHandler } from './origin-pool.ts';
import { copyToSlab } from './slabs.ts';
import type { ProxyState } from './state.ts';

/**
 * Responses up to this size (with a Content-Length) are redacted whole and keep an exact length;
 * larger ones stream through the redactor chunked. Holding large bodies whole kept them alive
 * across garbage collections: at 64 KiB, streaming gave about 1.45x the requests/s and less RSS
 * in bench/proxy.
 */
const BUFFER_REDACT_MAX = 16 * 1024;
const DECODABLE = new Set(['gzip', 'x-gzip', 'deflate', 'br']);
const DROP_LENGTH = new Set(['content-length']);
const DROP_LENGTH_AND_ENCODING = new Set(['content-length', 'content-encoding']);

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
  if (code === 'ETIMEDOUT')
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

/**
 * Whether a part the redactor returned is still the volatile input's memory (it hands back views
 * of its input where nothing was replaced), so it is valid only while that input is.
 */
function isVolatilePart(part: Buffer, volatileInput: Buffer | undefined): boolean {
  return volatileInput !== undefined && part.buffer === volatileInput.buffer;
}

class Exchange implements ResponseHandler {
  private readonly started = Date.now();
  private readonly pairs: HeaderPair[];
  private body: Buffer = EMPTY;
  private chain: ChainResult | undefined;
  private injected: string[] = [];
  private redacted: Set<string> | undefined; // names, made on the first redaction
  private bytesOut = 0;
  private bytesIn = 0;
  private status = 0;
  private recorded = false;
  private failed = false;
  private capturing = false;
  private captured: Buffer[] = [];
  private capturedSize = 0;
  private wireRequest: { path: string; headers: HeaderPair[]; body: Buffer } | undefined;
  /** what the agent got, as a flat list (turned into pairs only for a HAR capture) */
  private responseHeaders: string[] = [];
  private framing: RequestFraming = { length: undefined, chunked: false };
  // upstream response state (OriginPool's ResponseHandler)
  private abortUpstream: (() => void) | undefined;
  private resumeUpstream: (() => void) | undefined;
  private upstreamDone = false;
  private upstreamPairs: HeaderPair[] = [];
  private statusText = '';
  /** body chunks that arrived before the response head was decided */
  private early: Buffer[] | undefined;
  private earlySize = 0;
  private earlyComplete = false;
  private drainPending = false;
  /** `volatile`: the chunk is valid only during the call (see ResponseHandler.onData) */
  private sink: (chunk: Buffer, volatile: boolean) => boolean = () => true;
  private sinkEnd: () => void = () => {};

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
    const f = (this.framing = framing(this.pairs));
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
    return withChain(
      () => state.inspectors.inspectRequest(msg, this.started),
      (chain) => this.admit(chain),
    );
  }

  /** The request's verdict is in: refuse it, or send it on. */
  private admit(chain: ChainResult): void {
    const { state, t } = this;
    this.chain = chain;
    this.core.metrics.inspectorTimings(chain.timings);
    const no = turnaway(chain, state, t.host, this.started, this.core.metrics.rateLimited);
    if (no) return this.refuse(no.refusal, no.decision);
    this.capturing = this.core.audit.wantsCapture(t.host, decisionOf(chain));
    this.forward();
  }

  private forward(): void {
    const { state, t, req, res } = this;
    const swap = state.inspectors.swap;
    // No secret goes to this host: nothing to swap in (placeholders stay as they are).
    const injects = state.injectsTo(t.host);
    const head = injects
      ? swap.injectHead(t.host, t.path, this.pairs)
      : { path: t.path, headers: this.pairs, injected: [] };
    let body = this.body;
    const injected = head.injected.slice();
    if (injects && body.length > 0) {
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
    flat.push('host', authorityOf(t.host, t.port, t.scheme));
    const f = this.framing;
    if (body.length > 0 || f.chunked || f.length !== undefined)
      flat.push('content-length', String(body.length));
    this.bytesOut = body.length;
    this.core.metrics.bytesOut.inc(body.length);
    res.once('close', () => {
      // The agent went away before the response was done: stop talking to the upstream for it,
      // and still audit the request.
      if (this.upstreamDone) return;
      this.upstreamDone = true;
      this.abortUpstream?.();
      this.finish(
        this.chain ? decisionOf(this.chain) : 'error',
        'the agent closed the connection before the response was complete',
      );
    });
    try {
      state.upstream.pool(t.scheme, t.host, t.port).dispatch(
        {
          path: head.path,
          method: (req.method ?? 'GET') as 'GET',
          headers: flat,
          body: body.length > 0 ? body : null,
        },
        this,
      );
    } catch (e) {
      // A request that cannot go on the wire (e.g. a header value with a newline): fail closed.
      this.upstreamFailed(Object.assign(e as Error, { code: (e as NodeJS.ErrnoException).code ?? 'EINVAL' }));
    }
  }

  // ---- ResponseHandler (origin-pool.ts) -----------------------------------------------------

  onConnect(abort: () => void): void {
    this.abortUpstream = abort;
  }

  onError(e: Error): void {
    this.upstreamDone = true;
    this.upstreamFailed(e as NodeJS.ErrnoException);
  }

  onHeaders(status: number, flat: string[], resume: () => void, statusText: string): boolean {
    this.resumeUpstream = resume;
    let pairs = pairsFromRaw(flat);
    const { state, t } = this;
    if (state.hasSecrets) {
      const r = state.inspectors.swap.redactHeaders(pairs);
      pairs = r.headers;
      for (const n of r.redacted) (this.redacted ??= new Set()).add(n);
    }
    this.status = status;
    this.statusText = statusText;
    this.upstreamPairs = pairs;
    this.early = [];
    void withChain(
      () =>
        state.inspectors.inspectResponse(
          { kind: 'response', host: t.host, status, headers: pairs, body: EMPTY },
          Date.now(),
        ),
      (rchain) => {
        // A block aborts the upstream request: not from inside the parser's own callback.
        if (rchain.decision === 'block') queueMicrotask(() => this.decideHeadSafely(rchain));
        else this.decideHeadSafely(rchain);
      },
    );
    return true;
  }

  onData(chunk: Buffer, volatile: boolean): boolean {
    if (this.early !== undefined) {
      this.early.push(volatile ? Buffer.from(chunk) : chunk);
      this.earlySize += chunk.length;
      return this.earlySize < BUFFER_REDACT_MAX;
    }
    return this.sink(chunk, volatile);
  }

  onComplete(): void {
    this.upstreamDone = true;
    if (this.early !== undefined) this.earlyComplete = true;
    else this.sinkEnd();
  }

  /** decideHead outside any caller's try: a head node refuses to send (bad characters) is a 502. */
  private decideHeadSafely(rchain: ChainResult): void {
    try {
      this.decideHead(rchain);
    } catch (e) {
      this.core.log('warn', 'upstream response could not be relayed', {
        host: this.t.host,
        error: (e as Error).message,
      });
      this.early = undefined;
      this.abortUpstream?.();
      if (this.res.headersSent) {
        this.res.destroy();
        this.finish('error', 'upstream response could not be relayed');
      } else {
        this.refuse(
          {
            status: 502,
            error: 'upstream-error',
            reason: `upstream sent a response head that cannot be relayed (${(e as Error).message})`,
          },
          'error',
        );
      }
    }
  }

  /** The response head is in and inspected: choose how the body travels, then send the head. */
  private decideHead(rchain: ChainResult): void {
    const { state, req, res } = this;
    const status = this.status;
    const pairs = this.upstreamPairs;
    this.core.metrics.inspectorTimings(rchain.timings);
    if (res.destroyed) return;
    if (rchain.decision === 'block') {
      this.early = undefined;
      this.abortUpstream?.();
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
    if (rchain.flags.length > 0 && this.chain)
      this.chain = { ...this.chain, decision: 'flag', flags: [...this.chain.flags, ...rchain.flags] };
    res.once('finish', () => this.finish(decisionOf(this.chain!)));

    const noBody = req.method === 'HEAD' || status === 204 || status === 304;
    let encoding = '';
    let length: number | undefined;
    for (const [k, v] of pairs) {
      const l = k.toLowerCase();
      if (l === 'content-encoding') encoding = v.trim().toLowerCase();
      else if (l === 'content-length') length = Number(v);
    }
    if (noBody) {
      this.writeHead(forwardHeaders(pairs));
      this.sink = () => true;
      this.sinkEnd = () => res.end();
    } else if (!state.hasSecrets) {
      this.writeHead(forwardHeaders(pairs));
      this.sink = (c, volatile) => this.out(c, volatile);
      this.sinkEnd = () => res.end();
    } else {
      const redactor = state.inspectors.swap.createRedactor();
      const collect = () => {
        for (const n of redactor.redacted) (this.redacted ??= new Set()).add(n);
      };
      if (encoding !== '' && encoding !== 'identity') {
        if (!DECODABLE.has(encoding)) {
          this.early = undefined;
          this.abortUpstream?.();
          return this.refuse(
            {
              status: 502,
              error: 'upstream-error',
              reason: `response Content-Encoding "${encoding}" cannot be redacted (only gzip, deflate and br can)`,
            },
            'error',
          );
        }
        const decoder: Transform =
          encoding === 'br'
            ? zlib.createBrotliDecompress()
            : encoding === 'deflate'
              ? zlib.createInflate()
              : zlib.createGunzip();
        this.writeHead(forwardHeaders(pairs, { drop: DROP_LENGTH_AND_ENCODING }));
        decoder.on('data', (c: Buffer) => {
          if (!this.outAll(redactor.push(c), undefined)) {
            decoder.pause();
            res.once('drain', () => decoder.resume());
          }
        });
        decoder.once('end', () => {
          this.outAll(redactor.end(), undefined);
          collect();
          res.end();
        });
        decoder.once('error', () => {
          // Mid-response: the agent sees a cut connection, never a body that was not redacted.
          this.upstreamDone = true;
          this.abortUpstream?.();
          res.destroy();
          this.finish(decisionOf(this.chain!), `upstream ${encoding} body could not be decoded`);
        });
        // zlib reads its input later, on the thread pool: it gets its own copy.
        this.sink = (c, volatile) => decoder.write(volatile ? Buffer.from(c) : c);
        this.sinkEnd = () => decoder.end();
      } else if (length !== undefined && length <= BUFFER_REDACT_MAX) {
        // Small and whole: redact all of it and keep an exact Content-Length.
        const parts: Buffer[] = [];
        let size = 0;
        const keep = (out: Buffer[], from: Buffer | undefined) => {
          for (const b of out) {
            parts.push(isVolatilePart(b, from) ? Buffer.from(b) : b);
            size += b.length;
          }
        };
        this.sink = (c, volatile) => {
          keep(redactor.push(c), volatile ? c : undefined);
          return true;
        };
        this.sinkEnd = () => {
          keep(redactor.end(), undefined);
          collect();
          const out = forwardHeaders(pairs, { drop: DROP_LENGTH });
          out.push('content-length', String(size));
          this.writeHead(out);
          // The parts go out as one writev: no copy into a joined buffer.
          res.cork();
          for (const p of parts) this.out(p, false);
          res.end();
          res.uncork();
        };
      } else {
        this.writeHead(forwardHeaders(pairs, { drop: DROP_LENGTH }));
        this.sink = (c, volatile) => this.outAll(redactor.push(c), volatile ? c : undefined);
        this.sinkEnd = () => {
          this.outAll(redactor.end(), undefined);
          collect();
          res.end();
        };
      }
    }
    const early = this.early ?? [];
    this.early = undefined;
    let flowing = true;
    for (const c of early) flowing = this.sink(c, false) && flowing;
    if (this.earlyComplete) this.sinkEnd();
    else if (!flowing) res.once('drain', () => this.resumeUpstream?.());
    else if (this.earlySize >= BUFFER_REDACT_MAX) this.resumeUpstream?.();
  }

  private writeHead(flat: string[]): void {
    this.responseHeaders = flat;
    this.res.writeHead(this.status, this.statusText, flat);
  }

  /**
   * Parts to the agent in order; false when the agent's socket asks to wait (see out). Parts
   * that share memory with `volatileFrom` (the redactor hands back views of its input) are
   * volatile.
   */
  private outAll(parts: readonly Buffer[], volatileFrom: Buffer | undefined): boolean {
    let flowing = true;
    for (const p of parts)
      if (p.length > 0) flowing = this.out(p, isVolatilePart(p, volatileFrom)) && flowing;
    return flowing;
  }

  /** One chunk to the agent; false asks the upstream side to pause until the agent drains. */
  private out(chunk: Buffer, volatile: boolean): boolean {
    this.delivered(chunk);
    let written: boolean;
    if (volatile) {
      // The socket may hold the chunk after this call returns: write a copy it owns.
      const copy = copyToSlab(chunk);
      written = this.res.write(copy.data, copy.done);
    } else written = this.res.write(chunk);
    if (written) return true;
    if (!this.drainPending) {
      this.drainPending = true;
      this.res.once('drain', () => {
        this.drainPending = false;
        this.resumeUpstream?.();
      });
    }
    return false;
  }

  private upstreamFailed(e: NodeJS.ErrnoException): void {
    if (this.failed || this.recorded) return;
    this.failed = true;
    this.early = undefined;
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
    this.responseHeaders = ['content-type', 'application/json'];
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
    if (decision === 'flag' && chain?.flags[0]) {
      inspector = chain.flags[0].inspector;
      reason = chain.flags[0].reason;
      severity = chain.flags[0].severity;
    }
    // Built only when it will be written (allowed requests may be left out of the log).
    if (core.audit.logs(decision)) {
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
        redacted: this.redacted ? [...this.redacted] : [],
        bytesOut: this.bytesOut,
        bytesIn: this.bytesIn,
        durationMs: Date.now() - this.started,
      };
      if (inspector !== undefined) rec.inspector = inspector;
      if (reason !== undefined) rec.reason = reason;
      if (severity !== undefined) rec.severity = severity;
      core.audit.record(rec);
    }
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
        responseHeaders: headerPairsOf(this.responseHeaders),
        responseBody: Buffer.concat(this.captured),
        responseBodySize: this.bytesIn,
        decision: String(decision),
        inspector,
        reason,
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
