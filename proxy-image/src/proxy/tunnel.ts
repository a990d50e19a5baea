// Byte streams before HTTP: CONNECT tunnels, TLS interception (terminate with a leaf from the
// cage CA, then hand the decrypted stream to the inner HTTP server) and TLS passthrough (no
// decryption; allowed or refused by name, then spliced to the upstream address).
import type { Server as HttpServer } from 'node:http';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { AuditRecord } from '../audit/record.ts';
import { resultsOf } from '../audit/record.ts';
import type { ChainResult } from '../inspect/types.ts';
import { isValidHost, normalizeHost } from '../net/domain.ts';
import { checkLiteral, SsrfError } from '../net/lookup.ts';
import { parseClientHello, type HelloResult } from '../tls/client-hello.ts';
import { EMPTY, type Core, type Listener } from './core.ts';
import { parseAuthority } from './target.ts';
import { sendRefusalRaw, type Refusal } from './respond.ts';
import type { ProxyState } from './state.ts';

export const TUNNEL = Symbol('agentcage.tunnel');

/**
 * The host an SNI names. Some clients (hey, through Go's ServerName = Request.Host) send
 * "host:port", which RFC 6066 does not allow; the host part is what they mean.
 */
export function sniHost(name: string): string {
  return parseAuthority(name, 443)?.host ?? normalizeHost(name);
}

/** What the inner HTTP server knows about a connection it was handed. */
export interface TunnelInfo {
  host: string; // CONNECT target (forward) or SNI (transparent)
  port: number | undefined; // undefined: from the Host header, else the scheme's default
  listener: Listener;
  tls: boolean;
}

export type TunnelSocket = Duplex & { [TUNNEL]?: TunnelInfo };

const PEEK_TIMEOUT_MS = 10_000;

/**
 * Reads from `socket` until `enough(buffer)` or a timeout, then puts every byte back: the next
 * reader (TLS, HTTP parser, upstream pipe) sees the stream from its first byte.
 */
export function peek(socket: Socket, enough: (buf: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve) => {
    let buf: Buffer = EMPTY;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', finish);
      socket.removeListener('close', finish);
      socket.pause();
      if (buf.length > 0) socket.unshift(buf);
      resolve(buf);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (enough(buf)) finish();
    };
    const timer = setTimeout(finish, PEEK_TIMEOUT_MS);
    socket.on('data', onData);
    socket.once('end', finish);
    socket.once('close', finish);
    socket.resume();
  });
}

const helloComplete = (buf: Buffer) => parseClientHello(buf).kind !== 'more';

function tunnelRecord(
  core: Core,
  socket: Duplex,
  fields: Partial<AuditRecord> & Pick<AuditRecord, 'decision' | 'kind' | 'listener'>,
): void {
  core.audit.record({
    direction: 'outbound',
    client: (socket as Socket).remoteAddress,
    scheme: 'https',
    results: [],
    injected: [],
    redacted: [],
    bytesOut: 0,
    bytesIn: 0,
    ...fields,
  });
}

/** A decision on a name alone (passthrough tunnels): the request inspectors see a bodiless CONNECT. */
async function inspectName(state: ProxyState, host: string, port: number): Promise<ChainResult> {
  try {
    return await state.inspectors.inspectRequest(
      {
        kind: 'request',
        method: 'CONNECT',
        scheme: 'https',
        host,
        port,
        path: '/',
        headers: [],
        body: EMPTY,
      },
      Date.now(),
    );
  } catch (e) {
    return {
      decision: 'block',
      blockedBy: {
        decision: 'block',
        inspector: 'inspectors',
        reason: `inspector failed, so the tunnel is refused: ${(e as Error).message}`,
        severity: 'high',
      },
      flags: [],
      timings: [],
    };
  }
}

/** Explicit mode: `CONNECT host:port`. */
export async function handleConnect(
  core: Core,
  inner: HttpServer,
  req: { url?: string; socket: Socket },
  socket: Socket,
  head: Buffer,
  parseTarget: (s: string) => { host: string; port: number } | undefined,
): Promise<void> {
  socket.on('error', () => socket.destroy());
  const state = core.state;
  const target = parseTarget(req.url ?? '');
  const refuse = (r: Refusal, decision: AuditRecord['decision']) => {
    sendRefusalRaw(socket, r);
    core.metrics.request(
      decision === 'block' ? 'block' : decision === 'rate-limited' ? 'rate_limited' : 'error',
      'tunnel',
    );
    tunnelRecord(core, socket, {
      kind: 'tunnel',
      listener: 'forward',
      method: 'CONNECT',
      host: target?.host ?? r.host,
      port: target?.port,
      status: r.status,
      decision,
      inspector: r.inspector,
      reason: r.reason,
    });
  };
  if (!target) {
    return refuse(
      {
        status: 400,
        error: 'bad-request',
        inspector: 'http-parser',
        reason: `CONNECT target "${(req.url ?? '').slice(0, 100)}" is not host:port`,
      },
      'error',
    );
  }
  const { host, port } = target;
  if (state.isPassthrough(host)) {
    const chain = await inspectName(state, host, port);
    core.metrics.inspectorTimings(chain.timings);
    if (chain.decision === 'block') {
      return refuse(
        {
          status: 403,
          error: 'blocked',
          inspector: chain.blockedBy?.inspector ?? 'unknown',
          reason: chain.blockedBy?.reason ?? 'blocked',
          severity: chain.blockedBy?.severity,
          host,
        },
        'block',
      );
    }
    if (!state.rateLimiter.take(host, Date.now())) {
      core.metrics.rateLimited.inc();
      return refuse(
        {
          status: 429,
          error: 'blocked',
          inspector: 'rate-limit',
          reason: `more than the allowed requests per second to ${host}`,
          host,
          retryAfter: state.rateLimiter.retryAfter(host),
        },
        'rate-limited',
      );
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.unshift(head);
    const hello = parseClientHello(await peek(socket, helloComplete));
    const sni = hello.kind === 'hello' && hello.sni ? sniHost(hello.sni) : undefined;
    if (hello.kind !== 'hello' || (sni !== undefined && sni !== host)) {
      const reason =
        hello.kind !== 'hello'
          ? `passthrough tunnel to ${host} did not start with a TLS ClientHello`
          : `TLS SNI "${sni}" does not match the CONNECT target "${host}"`;
      socket.destroy();
      core.metrics.request('block', 'tunnel');
      return tunnelRecord(core, socket, {
        kind: 'tunnel',
        listener: 'forward',
        method: 'CONNECT',
        host,
        port,
        decision: 'block',
        inspector: 'sni',
        reason,
        passthrough: true,
      });
    }
    return splice(core, state, socket, host, port, 'forward', chain);
  }

  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) socket.unshift(head);
  const first = await peek(socket, (b) => b.length > 0);
  if (first.length === 0 || socket.destroyed) {
    socket.destroy();
    return;
  }
  if (first[0] === 0x16)
    return intercept(core, inner, socket, { host, port, listener: 'forward', tls: true });
  // Plain HTTP inside the tunnel (CONNECT to port 80 and friends): same inspection, no TLS.
  (socket as TunnelSocket)[TUNNEL] = { host, port, listener: 'forward', tls: false };
  inner.emit('connection', socket);
  // peek() paused it, and the inner server reads through 'data' (the forward server's parser
  // already consumed the handle once), which does not resume an explicitly paused stream.
  socket.resume();
}

/** Transparent mode, port 443: route by SNI. */
export async function handleTransparentTls(
  core: Core,
  inner: HttpServer,
  socket: Socket,
  passthroughPort: number,
): Promise<void> {
  socket.on('error', () => socket.destroy());
  const hello: HelloResult = parseClientHello(await peek(socket, helloComplete));
  const block = (reason: string, host?: string) => {
    socket.destroy();
    core.metrics.request('block', 'https');
    tunnelRecord(core, socket, {
      kind: 'tls',
      listener: 'transparent',
      host,
      decision: 'block',
      inspector: 'sni',
      reason,
    });
  };
  if (socket.destroyed) return;
  if (hello.kind !== 'hello') return block('connection did not start with a TLS ClientHello');
  if (!hello.sni) return block('TLS ClientHello without SNI: the destination is unclear');
  const host = sniHost(hello.sni);
  if (!isValidHost(host)) return block(`TLS SNI "${hello.sni.slice(0, 100)}" is not a host name`);
  const state = core.state;
  if (state.isPassthrough(host)) {
    const chain = await inspectName(state, host, passthroughPort);
    core.metrics.inspectorTimings(chain.timings);
    if (chain.decision === 'block') {
      socket.destroy();
      core.metrics.request('block', 'tunnel');
      return tunnelRecord(core, socket, {
        kind: 'tunnel',
        listener: 'transparent',
        host,
        port: passthroughPort,
        decision: 'block',
        inspector: chain.blockedBy?.inspector,
        reason: chain.blockedBy?.reason,
        results: resultsOf(chain),
        passthrough: true,
      });
    }
    if (!state.rateLimiter.take(host, Date.now())) {
      socket.destroy();
      core.metrics.rateLimited.inc();
      core.metrics.request('rate_limited', 'tunnel');
      return tunnelRecord(core, socket, {
        kind: 'tunnel',
        listener: 'transparent',
        host,
        port: passthroughPort,
        decision: 'rate-limited',
        inspector: 'rate-limit',
        reason: `more than the allowed requests per second to ${host}`,
        passthrough: true,
      });
    }
    return splice(core, state, socket, host, passthroughPort, 'transparent', chain);
  }
  intercept(core, inner, socket, { host, port: undefined, listener: 'transparent', tls: true });
}

/** Terminates TLS with a leaf for the SNI (or the CONNECT host when there is none). */
function intercept(core: Core, inner: HttpServer, socket: Socket, info: TunnelInfo): void {
  let tlsSocket: TLSSocket;
  try {
    tlsSocket = new TLSSocket(socket, {
      isServer: true,
      secureContext: core.leafs.get(info.host),
      SNICallback: (name, cb) => {
        try {
          cb(null, core.leafs.get(sniHost(name)));
        } catch (e) {
          cb(e as Error);
        }
      },
      ALPNProtocols: ['http/1.1'],
    });
  } catch (e) {
    core.log('error', 'cannot start TLS interception', { host: info.host, error: (e as Error).message });
    socket.destroy();
    return;
  }
  (tlsSocket as TunnelSocket)[TUNNEL] = info;
  let secure = false;
  tlsSocket.once('secure', () => (secure = true));
  tlsSocket.on('error', (e: NodeJS.ErrnoException) => {
    if (!secure) {
      // Usually the agent does not trust the cage CA: say so where an operator will look.
      core.metrics.request('error', 'https');
      tunnelRecord(core, socket, {
        kind: 'tls',
        listener: info.listener,
        host: info.host,
        port: info.port,
        decision: 'error',
        inspector: 'tls',
        reason: `TLS handshake with the agent failed (${e.code ?? e.message}): does the agent trust the cage CA?`,
      });
    }
    tlsSocket.destroy();
  });
  inner.emit('connection', tlsSocket);
}

/** Passthrough: connects to the (SSRF-checked) upstream and copies bytes both ways. */
function splice(
  core: Core,
  state: ProxyState,
  socket: Socket,
  host: string,
  port: number,
  listener: Listener,
  chain: ChainResult,
): void {
  const started = Date.now();
  let bytesOut = 0;
  let bytesIn = 0;
  let failure: string | undefined;
  let decision: AuditRecord['decision'] = chain.decision === 'flag' ? 'flag' : 'allow';
  let inspector: string | undefined;
  const literal = isIP(host) !== 0 ? checkLiteral(state.ssrf, host) : undefined;
  if (literal) {
    socket.destroy();
    core.metrics.request('block', 'tunnel');
    return tunnelRecord(core, socket, {
      kind: 'tunnel',
      listener,
      host,
      port,
      decision: 'block',
      inspector: 'ssrf',
      reason: literal.reason,
      passthrough: true,
    });
  }
  const upstream = netConnect({ host, port, lookup: state.upstream.lookup });
  const timer = setTimeout(
    () => upstream.destroy(new Error('upstream connect timeout')),
    state.upstream.connectTimeoutMs,
  );
  upstream.once('connect', () => {
    clearTimeout(timer);
    socket.pipe(upstream);
    upstream.pipe(socket);
  });
  socket.on('data', (c: Buffer) => {
    bytesOut += c.length;
    core.metrics.bytesOut.inc(c.length);
  });
  upstream.on('data', (c: Buffer) => {
    bytesIn += c.length;
    core.metrics.bytesIn.inc(c.length);
  });
  upstream.on('error', (e: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    if (e instanceof SsrfError) {
      decision = 'block';
      inspector = 'ssrf';
      failure = e.reason;
    } else {
      failure ??= `upstream failed (${e.code ?? e.message})`;
      core.metrics.upstreamError(e.code === 'ECONNREFUSED' ? 'refused' : 'other');
    }
    socket.destroy();
  });
  socket.on('error', () => upstream.destroy());
  socket.once('close', () => upstream.destroy());
  upstream.once('close', () => {
    socket.destroy();
    core.metrics.request(decision === 'block' ? 'block' : decision === 'flag' ? 'flag' : 'allow', 'tunnel');
    tunnelRecord(core, socket, {
      kind: 'tunnel',
      listener,
      host,
      port,
      decision,
      inspector: inspector ?? chain.flags[0]?.inspector,
      reason: failure ?? chain.flags[0]?.reason ?? 'passthrough (not decrypted)',
      results: resultsOf(chain),
      bytesOut,
      bytesIn,
      durationMs: Date.now() - started,
      passthrough: true,
    });
  });
}
