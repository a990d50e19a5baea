// WebSocket through the proxy: the upgrade is inspected like a request, then the proxy speaks
// WebSocket to both sides (ws) and every message, both ways, goes through the inspectors:
// outbound ones get secrets injected, inbound ones redacted, blocked ones are dropped and
// audited. permessage-deflate is never negotiated, so inspectors always see plain payloads.
import type { IncomingMessage } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { AuditRecord } from '../audit/record.ts';
import { resultsOf } from '../audit/record.ts';
import type { ChainResult, HeaderPair } from '../inspect/types.ts';
import { checkLiteral, SsrfError } from '../net/lookup.ts';
import { EMPTY, type Core, type RequestTarget } from './core.ts';
import { forwardHeaders, headerValue, pairsFromRaw } from './headers.ts';
import { inspectFailClosed, turnaway } from './admission.ts';
import { sendRefusalRaw, type Refusal } from './respond.ts';
import type { ProxyState } from './state.ts';

const CHOSEN = Symbol('agentcage.ws.protocol');
const EXTRA = Symbol('agentcage.ws.headers');
type UpgradeRequest = IncomingMessage & { [CHOSEN]?: string; [EXTRA]?: string[] };

const WS_DROP = new Set([
  'host',
  'content-length',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'sec-websocket-accept',
]);
const INBOUND_MAX_PAYLOAD = 64 * 1024 * 1024;
const PAUSE_AT = 64;
const RESUME_AT = 16;

/** One per proxy: answers agents' upgrades once the upstream side is open. */
export function createAgentSideServer(): WebSocketServer {
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    clientTracking: false,
    maxPayload: INBOUND_MAX_PAYLOAD,
    // Answer with the subprotocol the upstream chose (or none).
    handleProtocols: (_protocols, req) => (req as UpgradeRequest)[CHOSEN] ?? false,
  });
  wss.on('headers', (headers, req) => {
    const extra = (req as UpgradeRequest)[EXTRA];
    if (extra) for (let i = 0; i < extra.length; i += 2) headers.push(`${extra[i]}: ${extra[i + 1]}`);
  });
  return wss;
}

function validCloseCode(code: number): number | undefined {
  if (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  )
    return code;
  return undefined;
}

function toBuffer(d: RawData): Buffer {
  if (Buffer.isBuffer(d)) return d;
  if (Array.isArray(d)) return Buffer.concat(d);
  return Buffer.from(d as ArrayBuffer);
}

export function handleUpgrade(
  core: Core,
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  t: RequestTarget,
): void {
  new WebSocketRelay(core, core.state, wss, req as UpgradeRequest, socket, head, t)
    .start()
    .catch((e: Error) => {
      core.log('error', 'websocket relay failed', { error: e.message, host: t.host });
      socket.destroy();
    });
}

class WebSocketRelay {
  private readonly pairs: HeaderPair[];
  private readonly started = Date.now();
  private chain: ChainResult | undefined;
  private injected = new Set<string>();
  private redacted = new Set<string>();
  private bytesOut = 0;
  private bytesIn = 0;
  private frames = { outbound: 0, inbound: 0, blocked: 0 };

  constructor(
    private readonly core: Core,
    private readonly state: ProxyState,
    private readonly wss: WebSocketServer,
    private readonly req: UpgradeRequest,
    private readonly socket: Socket,
    private readonly head: Buffer,
    private readonly t: RequestTarget,
  ) {
    this.pairs = pairsFromRaw(req.rawHeaders);
  }

  private get scheme(): 'ws' | 'wss' {
    return this.t.scheme === 'https' ? 'wss' : 'ws';
  }

  private record(fields: Partial<AuditRecord> & Pick<AuditRecord, 'decision'>): void {
    this.core.audit.record({
      kind: 'websocket',
      direction: 'outbound',
      listener: this.t.listener,
      client: this.socket.remoteAddress,
      scheme: this.t.scheme,
      method: 'GET',
      host: this.t.host,
      port: this.t.port,
      path: this.t.path,
      results: resultsOf(this.chain),
      injected: [...this.injected],
      redacted: [...this.redacted],
      bytesOut: this.bytesOut,
      bytesIn: this.bytesIn,
      ...fields,
    });
  }

  private refuse(r: Omit<Refusal, 'host'>, decision: AuditRecord['decision']): void {
    sendRefusalRaw(this.socket, { ...r, host: this.t.host, path: this.t.path.slice(0, 256) });
    this.core.metrics.request(
      decision === 'rate-limited' ? 'rate_limited' : decision === 'block' ? 'block' : 'error',
      this.scheme,
    );
    this.record({
      status: r.status,
      decision,
      inspector: r.inspector,
      reason: r.reason,
      severity: r.severity,
    });
  }

  async start(): Promise<void> {
    const { state, t, socket } = this;
    socket.on('error', () => socket.destroy());
    const upgrade = headerValue(this.pairs, 'upgrade')?.toLowerCase();
    const key = headerValue(this.pairs, 'sec-websocket-key');
    if (upgrade !== 'websocket' || !key || this.req.method !== 'GET') {
      return this.refuse(
        {
          status: 400,
          error: 'bad-request',
          inspector: 'http-parser',
          reason: `only WebSocket upgrades are proxied (got Upgrade: ${upgrade ?? 'none'})`,
        },
        'error',
      );
    }
    const chain = await inspectFailClosed(() =>
      state.inspectors.inspectRequest(
        {
          kind: 'request',
          method: 'GET',
          scheme: t.scheme,
          host: t.host,
          port: t.port,
          path: t.path,
          headers: this.pairs,
          body: EMPTY,
        },
        this.started,
      ),
    );
    this.chain = chain;
    this.core.metrics.inspectorTimings(chain.timings);
    const no = turnaway(chain, state, t.host, this.started, this.core.metrics.rateLimited);
    if (no) return this.refuse(no.refusal, no.decision);
    if (isIP(t.host) !== 0) {
      const refused = checkLiteral(state.ssrf, t.host);
      if (refused)
        return this.refuse(
          { status: 403, error: 'blocked', inspector: 'ssrf', reason: refused.reason },
          'block',
        );
    }
    this.connectUpstream();
  }

  private connectUpstream(): void {
    const { state, t } = this;
    const swap = state.inspectors.swap;
    const head = swap.injectHead(t.host, t.path, this.pairs);
    for (const n of head.injected) this.injected.add(n);
    const flat = forwardHeaders(head.headers, { drop: WS_DROP });
    const headers: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) {
      const k = flat[i].toLowerCase();
      headers[k] =
        headers[k] === undefined ? flat[i + 1] : `${headers[k]}${k === 'cookie' ? '; ' : ', '}${flat[i + 1]}`;
    }
    const protocols = (headerValue(this.pairs, 'sec-websocket-protocol') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const host = t.host.includes(':') ? `[${t.host}]` : t.host;
    const url = `${this.scheme}://${host}:${t.port}${head.path}`;
    const upstream = new WebSocket(url, protocols, {
      headers,
      perMessageDeflate: false,
      followRedirects: false,
      handshakeTimeout: state.upstream.connectTimeoutMs,
      maxPayload: INBOUND_MAX_PAYLOAD,
      lookup: state.upstream.lookup,
      secureContext: state.upstream.secureContext,
    } as ConstructorParameters<typeof WebSocket>[2]);
    let opened = false;
    let upgradeHeaders: HeaderPair[] = [];
    upstream.on('upgrade', (res: IncomingMessage) => {
      upgradeHeaders = pairsFromRaw(res.rawHeaders);
    });
    upstream.on('unexpected-response', (_r, res: IncomingMessage) => {
      res.resume();
      upstream.terminate();
      this.refuse(
        {
          status: 502,
          error: 'upstream-error',
          reason: `upstream answered the WebSocket upgrade with HTTP ${res.statusCode}`,
        },
        'error',
      );
    });
    upstream.on('error', (e: NodeJS.ErrnoException) => {
      if (opened) return;
      if (this.socket.destroyed) return;
      if (e instanceof SsrfError || e.code === 'ESSRF')
        return this.refuse(
          { status: 403, error: 'blocked', inspector: 'ssrf', reason: (e as SsrfError).reason },
          'block',
        );
      this.core.metrics.upstreamError(e.code === 'ECONNREFUSED' ? 'refused' : 'other');
      this.refuse(
        {
          status: 502,
          error: 'upstream-error',
          reason: `upstream WebSocket failed (${e.code ?? e.message})`,
        },
        'error',
      );
    });
    this.socket.once('close', () => {
      if (!opened) upstream.terminate();
    });
    upstream.once('open', () => {
      opened = true;
      if (this.socket.destroyed) {
        upstream.terminate();
        return;
      }
      let extra = upgradeHeaders.filter(([k]) => {
        const l = k.toLowerCase();
        return (
          !l.startsWith('sec-websocket-') && l !== 'upgrade' && l !== 'connection' && l !== 'content-length'
        );
      });
      if (state.hasSecrets) {
        const r = swap.redactHeaders(extra);
        extra = r.headers;
        for (const n of r.redacted) this.redacted.add(n);
      }
      this.req[CHOSEN] = upstream.protocol || undefined;
      this.req[EXTRA] = forwardHeaders(extra);
      this.wss.handleUpgrade(this.req, this.socket, this.head, (agent) => this.relay(agent, upstream));
    });
  }

  private relay(agent: WebSocket, upstream: WebSocket): void {
    const { core, state, t } = this;
    const swap = state.inspectors.swap;
    core.metrics.request(this.chain?.decision === 'flag' ? 'flag' : 'allow', this.scheme);
    this.record({ status: 101, decision: this.chain?.decision === 'flag' ? 'flag' : 'allow' });

    const pipeDirection = (from: WebSocket, to: WebSocket, direction: 'outbound' | 'inbound') => {
      let chain: Promise<void> = Promise.resolve();
      let pending = 0;
      from.on('message', (raw: RawData, isBinary: boolean) => {
        const data = toBuffer(raw);
        pending++;
        if (pending >= PAUSE_AT) from.pause();
        chain = chain
          .then(() => this.forwardMessage(direction, data, isBinary, to, swap))
          .catch((e: Error) =>
            core.log('error', 'websocket message failed', { error: e.message, host: t.host }),
          )
          .finally(() => {
            pending--;
            if (pending === RESUME_AT) from.resume();
          });
      });
    };
    pipeDirection(agent, upstream, 'outbound');
    pipeDirection(upstream, agent, 'inbound');

    let closed = false;
    const closeBoth = (code: number, reason: Buffer, from: 'agent' | 'upstream') => {
      const other = from === 'agent' ? upstream : agent;
      const c = validCloseCode(code);
      if (other.readyState === WebSocket.OPEN) {
        if (c === undefined) other.close();
        else other.close(c, reason.length <= 123 ? reason : undefined);
      } else if (other.readyState === WebSocket.CONNECTING) other.terminate();
      if (closed) return;
      closed = true;
      this.record({
        kind: 'websocket',
        status: 101,
        decision: 'allow',
        reason: `closed by ${from} (code ${code}); messages out ${this.frames.outbound}, in ${this.frames.inbound}, blocked ${this.frames.blocked}`,
        durationMs: Date.now() - this.started,
      });
    };
    agent.on('close', (code, reason) => closeBoth(code, reason, 'agent'));
    upstream.on('close', (code, reason) => closeBoth(code, reason, 'upstream'));
    agent.on('error', () => upstream.terminate());
    upstream.on('error', () => agent.terminate());
  }

  private async forwardMessage(
    direction: 'outbound' | 'inbound',
    data: Buffer,
    binary: boolean,
    to: WebSocket,
    swap: ProxyState['inspectors']['swap'],
  ): Promise<void> {
    const { core, state, t } = this;
    const chain = await inspectFailClosed(() =>
      state.inspectors.inspectFrame(
        { kind: 'websocket', direction, host: t.host, path: t.path, binary, data },
        Date.now(),
      ),
    );
    core.metrics.inspectorTimings(chain.timings);
    core.metrics.frame(direction, chain.decision);
    this.frames[direction]++;
    if (chain.decision !== 'allow') {
      if (chain.decision === 'block') this.frames.blocked++;
      core.audit.record({
        kind: 'websocket-frame',
        direction,
        listener: t.listener,
        scheme: t.scheme,
        host: t.host,
        port: t.port,
        path: t.path,
        decision: chain.decision,
        inspector: (chain.blockedBy ?? chain.flags[0])?.inspector,
        reason: (chain.blockedBy ?? chain.flags[0])?.reason,
        severity: (chain.blockedBy ?? chain.flags[0])?.severity,
        results: resultsOf(chain),
        injected: [],
        redacted: [],
        bytesOut: direction === 'outbound' ? data.length : 0,
        bytesIn: direction === 'inbound' ? data.length : 0,
      });
      if (chain.decision === 'block') return; // dropped: the other side never sees it
    }
    let out = data;
    if (direction === 'outbound') {
      if (state.injectsTo(t.host)) {
        const r = swap.injectFrame(t.host, data);
        out = r.data;
        for (const n of r.injected) this.injected.add(n);
      }
      this.bytesOut += out.length;
      core.metrics.bytesOut.inc(out.length);
    } else {
      if (state.hasSecrets) {
        const r = swap.redactFrame(data);
        out = r.data;
        for (const n of r.redacted) this.redacted.add(n);
      }
      this.bytesIn += out.length;
      core.metrics.bytesIn.inc(out.length);
    }
    if (to.readyState === WebSocket.OPEN) to.send(out, { binary });
  }
}
