// The proxy process: listeners (forward, transparent HTTP, transparent HTTPS), the inner HTTP
// server that intercepted tunnels feed, policy loading and hot reload, metrics, graceful shutdown.
import { mkdirSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo, type BlockList, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { WebSocketServer } from 'ws';
import { Auditor } from '../audit/auditor.ts';
import { HarWriter } from '../audit/har.ts';
import { LineWriter } from '../audit/writer.ts';
import { buildInspectors as defaultBuildInspectors } from '../inspect/index.ts';
import { stderrLogger, type Logger } from '../log.ts';
import { ProxyMetrics } from '../metrics/metrics.ts';
import { startMetricsServer } from '../metrics/server.ts';
import type { StaticHosts } from '../net/lookup.ts';
import { parseCidrs } from '../net/ssrf.ts';
import { readPolicyFile } from '../policy/load.ts';
import { FileWatcher } from '../policy/watch.ts';
import { loadOrMintCa, type CageCa } from '../tls/ca.ts';
import { LeafContexts } from '../tls/leaf-contexts.ts';
import type { Core, Listener, RequestTarget } from './core.ts';
import { headerValue, pairsFromRaw } from './headers.ts';
import { handleRequest, refuseRequest } from './http-flow.ts';
import type { BuildInspectors } from './inspector-api.ts';
import { sendRefusalRaw, type Refusal } from './respond.ts';
import { buildState, type ProxyState } from './state.ts';
import { parseAbsoluteUrl, parseAuthority } from './target.ts';
import { handleConnect, handleTransparentTls, sniHost, TUNNEL, type TunnelSocket } from './tunnel.ts';

export interface Address {
  host: string;
  port: number;
}

export interface ProxyOptions {
  policyPath: string;
  listen: Address;
  /** undefined: no metrics listener (tests that do not need one) */
  metrics?: Address;
  /** CIDRs whose connections the metrics listener resets (the agent's network on podman) */
  metricsDeny?: string[];
  caDir: string;
  auditPath: string; // '-' for stdout
  harPath?: string;
  transparentHttp?: Address;
  transparentHttps?: Address;
  /** name -> IP, consulted before DNS (the SSRF guard still checks the IP) */
  staticHosts?: StaticHosts;
  buildInspectors?: BuildInspectors;
  customInspectorDir?: string;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  /** upstream ports in transparent mode when the Host header names none (and for passthrough) */
  transparentDefaultPorts?: { http: number; https: number };
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  maxHeaderSize?: number;
  shutdownGraceMs?: number;
  policyPollMs?: number;
}

export interface ProxyPorts {
  proxy: number;
  metrics?: number;
  transparentHttp?: number;
  transparentHttps?: number;
}

const PARSER_REASONS: Record<string, string> = {
  HPE_HEADER_OVERFLOW: 'request headers are larger than the limit',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'Content-Length together with Transfer-Encoding (request smuggling shape)',
  HPE_INVALID_TRANSFER_ENCODING: 'invalid Transfer-Encoding',
  HPE_INVALID_CONTENT_LENGTH: 'invalid Content-Length',
  HPE_INVALID_METHOD: 'invalid method in the request line',
  HPE_INVALID_URL: 'invalid request target',
  HPE_INVALID_VERSION: 'invalid HTTP version in the request line',
  HPE_INVALID_CONSTANT: 'not an HTTP request line',
  HPE_INVALID_HEADER_TOKEN: 'invalid header name',
  HPE_LF_EXPECTED: 'malformed line endings',
  HPE_CR_EXPECTED: 'malformed line endings',
  ERR_HTTP_REQUEST_TIMEOUT: 'the request was not received within the time limit',
};

export class ProxyServer implements Core {
  state!: ProxyState;
  readonly metrics: ProxyMetrics;
  readonly audit: Auditor;
  readonly leafs: LeafContexts;
  readonly log: Logger;
  readonly ca: CageCa;
  ports: ProxyPorts = { proxy: 0 };

  private generation = 0;
  private ready = false;
  private closing: Promise<void> | undefined;
  private readonly forward: http.Server;
  private readonly inner: http.Server;
  private transparentHttp?: http.Server;
  private transparentTls?: net.Server;
  private metricsServer?: http.Server;
  private readonly metricsDeny?: BlockList;
  /** ws and the relay load on the first upgrade (see upgrade) */
  private websocket?: Promise<{
    wss: WebSocketServer;
    handle: typeof import('./websocket.ts').handleUpgrade;
  }>;
  private readonly sockets = new Set<Duplex>();
  private watcher?: FileWatcher;
  private reloading: Promise<boolean> | undefined;
  private readonly buildInspectors: BuildInspectors;
  private readonly defaults: { http: number; https: number };

  private constructor(
    private readonly opts: ProxyOptions,
    initial: {
      state: ProxyState;
      ca: CageCa;
      audit: Auditor;
      metrics: ProxyMetrics;
      log: Logger;
      metricsDeny?: BlockList;
    },
  ) {
    this.state = initial.state;
    this.ca = initial.ca;
    this.audit = initial.audit;
    this.metrics = initial.metrics;
    this.metricsDeny = initial.metricsDeny;
    this.log = initial.log;
    this.buildInspectors = opts.buildInspectors ?? defaultBuildInspectors;
    this.defaults = opts.transparentDefaultPorts ?? { http: 80, https: 443 };
    this.leafs = new LeafContexts(this.ca, () => this.metrics.certificatesMinted.inc());
    const serverOpts: http.ServerOptions = {
      maxHeaderSize: opts.maxHeaderSize ?? 16 * 1024,
      headersTimeout: opts.headersTimeoutMs ?? 30_000,
      requestTimeout: opts.requestTimeoutMs ?? 300_000,
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 65_000,
      connectionsCheckingInterval: Math.min(1000, opts.headersTimeoutMs ?? 1000),
      noDelay: true,
    };
    this.forward = http.createServer(serverOpts);
    this.forward.on('request', (req, res) => this.onForwardRequest(req, res));
    this.forward.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      handleConnect(this, this.inner, req, socket, head, (s) => parseAuthority(s, 443)).catch((e: Error) => {
        this.log('error', 'CONNECT failed', { error: e.message });
        socket.destroy();
      });
    });
    this.forward.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.onForwardUpgrade(req, socket, head),
    );
    this.inner = http.createServer(serverOpts);
    this.inner.on('request', (req, res) => this.onTunnelRequest(req, res));
    this.inner.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.onTunnelUpgrade(req, socket, head),
    );
    this.inner.on('connect', (_req: IncomingMessage, socket: Socket) =>
      sendRefusalRaw(socket, {
        status: 405,
        error: 'bad-request',
        inspector: 'http-parser',
        reason: 'CONNECT inside a tunnel is not supported',
      }),
    );
    for (const s of [this.forward, this.inner]) {
      s.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) =>
        this.onClientError(err, socket, 'forward'),
      );
    }
    if (opts.transparentHttp) {
      const s = http.createServer(serverOpts);
      s.on('request', (req, res) => this.onTransparentRequest(req, res));
      s.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
        this.onTransparentUpgrade(req, socket, head),
      );
      s.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) =>
        this.onClientError(err, socket, 'transparent'),
      );
      s.on('connect', (_req: IncomingMessage, socket: Socket) =>
        sendRefusalRaw(socket, {
          status: 405,
          error: 'bad-request',
          inspector: 'http-parser',
          reason: 'CONNECT is for the forward-proxy port, not the transparent one',
        }),
      );
      this.transparentHttp = s;
    }
    if (opts.transparentHttps) {
      this.transparentTls = net.createServer({ noDelay: true }, (socket) => {
        handleTransparentTls(this, this.inner, socket, this.defaults.https).catch((e: Error) => {
          this.log('error', 'transparent TLS failed', { error: e.message });
          socket.destroy();
        });
      });
    }
  }

  /** Loads the policy (refusing to start on an invalid one), the CA, and starts every listener. */
  static async start(opts: ProxyOptions): Promise<ProxyServer> {
    const log = opts.log ?? stderrLogger();
    // Flags first: a bad one fails before anything is read or minted.
    const metricsDeny = opts.metricsDeny?.length
      ? parseCidrs(opts.metricsDeny, () => '--metrics-deny')
      : undefined;
    const loaded = await readPolicyFile(opts.policyPath, opts.env);
    const metrics = new ProxyMetrics();
    const buildInspectors = opts.buildInspectors ?? defaultBuildInspectors;
    const box: { server?: ProxyServer } = {};
    const state = await buildState(
      loaded,
      {
        buildInspectors,
        staticHosts: opts.staticHosts ?? new Map(),
        currentGuard: () => box.server?.state.ssrf ?? state.ssrf,
        customDir: opts.customInspectorDir,
      },
      1,
    );
    const ca = loadOrMintCa(opts.caDir, loaded.policy.cage);
    if (ca.minted) log('info', 'minted a new cage CA', { dir: opts.caDir });
    // Their directories may be fresh emptyDirs/tmpfs (the HAR goes under /tmp/agentcage): create them.
    for (const f of [opts.auditPath, opts.harPath])
      if (f && f !== '-') mkdirSync(dirname(f), { recursive: true });
    const lines = new LineWriter(opts.auditPath);
    const harPath = opts.harPath;
    const view = loaded.policy.capture.wireView ? 'wire' : 'agent';
    if (harPath && view === 'wire')
      log('warn', 'HAR capture records the on-the-wire view: the HAR file holds REAL SECRET VALUES', {
        har: harPath,
      });
    const har = harPath ? new HarWriter(harPath, view) : undefined;
    const audit = new Auditor(lines, har, view);
    audit.use(loaded.policy, state.scrub);
    const server = new ProxyServer(opts, { state, ca, audit, metrics, log, metricsDeny });
    box.server = server;
    server.generation = 1;
    metrics.policyGeneration.set(1);
    try {
      await server.listen();
    } catch (e) {
      await server.close();
      throw e;
    }
    server.watcher = new FileWatcher(loaded.files, () => void server.reload(), opts.policyPollMs ?? 2000);
    server.ready = true;
    log('info', 'proxy ready', { ports: server.ports, cage: loaded.policy.cage, mode: loaded.policy.mode });
    return server;
  }

  get isReady(): boolean {
    return this.ready && this.closing === undefined;
  }

  private async listen(): Promise<void> {
    const bind = (srv: net.Server, a: Address, listener: string) =>
      new Promise<number>((resolve, reject) => {
        srv.on('connection', (socket: Socket) => this.track(socket, listener));
        srv.once('error', reject);
        srv.listen(a.port, a.host, () => {
          srv.removeListener('error', reject);
          srv.on('error', (e: Error) => this.log('error', 'listener error', { listener, error: e.message }));
          resolve((srv.address() as AddressInfo).port);
        });
      });
    this.ports.proxy = await bind(this.forward, this.opts.listen, 'forward');
    if (this.transparentHttp && this.opts.transparentHttp)
      this.ports.transparentHttp = await bind(
        this.transparentHttp,
        this.opts.transparentHttp,
        'transparent_http',
      );
    if (this.transparentTls && this.opts.transparentHttps)
      this.ports.transparentHttps = await bind(
        this.transparentTls,
        this.opts.transparentHttps,
        'transparent_https',
      );
    if (this.opts.metrics) {
      const m = await startMetricsServer(
        this.metrics.registry,
        this.opts.metrics.host,
        this.opts.metrics.port,
        () => this.isReady,
        this.metricsDeny,
      );
      this.metricsServer = m.server;
      this.ports.metrics = m.port;
    }
  }

  private track(socket: Socket, listener: string): void {
    this.sockets.add(socket);
    this.metrics.connectionOpened(listener);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.metrics.connectionClosed(listener);
    });
  }

  /** Re-reads the policy; an invalid one keeps the old generation in force (and says why). */
  reload(): Promise<boolean> {
    // One reload at a time; a change during one triggers another after it.
    const run = async (): Promise<boolean> => {
      try {
        const loaded = await readPolicyFile(this.opts.policyPath, this.opts.env);
        const next = await buildState(
          loaded,
          {
            buildInspectors: this.buildInspectors,
            staticHosts: this.opts.staticHosts ?? new Map(),
            currentGuard: () => this.state.ssrf,
            customDir: this.opts.customInspectorDir,
          },
          this.generation + 1,
          this.state,
        );
        if (this.closing) return false;
        this.generation = next.generation;
        this.state = next;
        this.audit.use(next.policy, next.scrub);
        this.watcher?.setFiles(loaded.files);
        this.metrics.reload('ok');
        this.metrics.policyGeneration.set(this.generation);
        this.log('info', 'policy reloaded', { generation: this.generation });
        return true;
      } catch (e) {
        this.metrics.reload('error');
        this.log('error', 'policy reload failed: keeping the policy in force', {
          error: (e as Error).message,
          generation: this.generation,
        });
        return false;
      }
    };
    const p = (this.reloading ?? Promise.resolve(true)).then(run);
    this.reloading = p;
    return p;
  }

  // ---- routing -------------------------------------------------------------------------

  private onForwardRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    const target = parseAbsoluteUrl(url);
    if (!target) {
      const originForm = url.startsWith('/');
      return refuseRequest(
        this,
        req,
        res,
        {
          status: 400,
          error: 'bad-request',
          inspector: 'routing',
          reason: originForm
            ? 'this is a forward proxy: send absolute-form requests (set HTTP_PROXY/HTTPS_PROXY to it)'
            : `request target "${url.slice(0, 100)}" is not an http(s) URL`,
        },
        'forward',
        'http',
      );
    }
    handleRequest(this, req, res, { ...target, listener: 'forward' });
  }

  private onForwardUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const target = parseAbsoluteUrl(req.url ?? '');
    if (!target)
      return this.refuseUpgrade(socket, 'request target is not an absolute http(s) URL', 'forward');
    this.upgrade(req, socket, head, { ...target, listener: 'forward' });
  }

  /** Requests inside an intercepted (or plain) tunnel: the tunnel fixed the host. */
  private tunnelTarget(req: IncomingMessage): RequestTarget | Refusal {
    const info = (req.socket as TunnelSocket)[TUNNEL];
    if (!info) return { status: 400, error: 'bad-request', inspector: 'routing', reason: 'no tunnel' };
    const scheme = info.tls ? 'https' : 'http';
    const defaultPort = scheme === 'https' ? this.defaults.https : this.defaults.http;
    const hostHeader = headerValue(pairsFromRaw(req.rawHeaders), 'host');
    const against = info.listener === 'forward' ? 'CONNECT target' : 'TLS SNI';
    let port = info.port;
    if (hostHeader !== undefined) {
      const a = parseAuthority(hostHeader, defaultPort);
      if (!a || a.host !== info.host) {
        return {
          status: 403,
          error: 'blocked',
          inspector: 'routing',
          reason: `Host "${hostHeader.slice(0, 100)}" does not match the ${against} "${info.host}"`,
          host: info.host,
        };
      }
      port ??= a.port;
    }
    if (info.tls) {
      const sni = (req.socket as TLSSocket).servername;
      if (typeof sni === 'string' && sni !== '' && sniHost(sni) !== info.host) {
        return {
          status: 403,
          error: 'blocked',
          inspector: 'routing',
          reason: `TLS SNI "${sni.slice(0, 100)}" does not match the ${against} "${info.host}"`,
          host: info.host,
        };
      }
    }
    let path = req.url ?? '/';
    if (!path.startsWith('/')) {
      const abs = parseAbsoluteUrl(path);
      if (!abs || abs.host !== info.host)
        return {
          status: 403,
          error: 'blocked',
          inspector: 'routing',
          reason: `request target does not match the ${against} "${info.host}"`,
          host: info.host,
        };
      path = abs.path;
    }
    return { scheme, host: info.host, port: port ?? defaultPort, path, listener: info.listener };
  }

  private onTunnelRequest(req: IncomingMessage, res: ServerResponse): void {
    const t = this.tunnelTarget(req);
    const info = (req.socket as TunnelSocket)[TUNNEL];
    if ('status' in t)
      return refuseRequest(this, req, res, t, info?.listener ?? 'forward', info?.tls ? 'https' : 'http');
    handleRequest(this, req, res, t);
  }

  private onTunnelUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const t = this.tunnelTarget(req);
    const info = (req.socket as TunnelSocket)[TUNNEL];
    if ('status' in t) return this.refuseUpgrade(socket, t.reason, info?.listener ?? 'forward', t.host);
    this.upgrade(req, socket, head, t);
  }

  /** Transparent port 80: the Host header is the only statement of the destination. */
  private transparentTarget(req: IncomingMessage): RequestTarget | Refusal {
    const hostHeader = headerValue(pairsFromRaw(req.rawHeaders), 'host');
    if (hostHeader === undefined)
      return {
        status: 403,
        error: 'blocked',
        inspector: 'routing',
        reason: 'no Host header: the destination is unclear, so the request is blocked',
      };
    const a = parseAuthority(hostHeader, this.defaults.http);
    if (!a)
      return {
        status: 400,
        error: 'bad-request',
        inspector: 'routing',
        reason: `Host "${hostHeader.slice(0, 100)}" is not host[:port]`,
      };
    let path = req.url ?? '/';
    if (!path.startsWith('/')) {
      const abs = parseAbsoluteUrl(path);
      if (!abs || abs.host !== a.host)
        return {
          status: 403,
          error: 'blocked',
          inspector: 'routing',
          reason: `request target does not match Host "${a.host}"`,
          host: a.host,
        };
      path = abs.path;
    }
    return { scheme: 'http', host: a.host, port: a.port, path, listener: 'transparent' };
  }

  private onTransparentRequest(req: IncomingMessage, res: ServerResponse): void {
    const t = this.transparentTarget(req);
    if ('status' in t) return refuseRequest(this, req, res, t, 'transparent', 'http');
    handleRequest(this, req, res, t);
  }

  private onTransparentUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const t = this.transparentTarget(req);
    if ('status' in t) return this.refuseUpgrade(socket, t.reason, 'transparent', t.host);
    this.upgrade(req, socket, head, t);
  }

  /**
   * WebSocket relaying (ws and websocket.ts) is loaded on the first upgrade: a cage that never
   * opens a WebSocket does not keep that code in its heap (about 1 MB). Node holds the socket's
   * bytes meanwhile (an upgraded socket is neither flowing nor reading into a listener).
   */
  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer, t: RequestTarget): void {
    this.websocket ??= import('./websocket.ts').then((m) => ({
      wss: m.createAgentSideServer(),
      handle: m.handleUpgrade,
    }));
    this.websocket.then(
      ({ wss, handle }) => handle(this, wss, req, socket, head, t),
      (e: Error) => {
        this.log('error', 'websocket relay could not load', { error: e.message });
        socket.destroy();
      },
    );
  }

  private refuseUpgrade(socket: Duplex, reason: string, listener: Listener, host?: string): void {
    sendRefusalRaw(socket, { status: 403, error: 'blocked', inspector: 'routing', reason, host });
    this.metrics.request('block', 'ws');
    this.audit.record({
      kind: 'websocket',
      direction: 'outbound',
      listener,
      host,
      decision: 'block',
      inspector: 'routing',
      reason,
      results: [],
      injected: [],
      redacted: [],
      bytesOut: 0,
      bytesIn: 0,
    });
  }

  /** Malformed requests: a clear 4xx, the connection closed, the proxy serving everyone else. */
  private onClientError(err: NodeJS.ErrnoException, socket: Duplex, listener: Listener): void {
    const code = err.code ?? 'ERR';
    if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const reason = `${PARSER_REASONS[code] ?? 'malformed HTTP request'} (${code})`;
    sendRefusalRaw(socket, { status, error: 'bad-request', inspector: 'http-parser', reason });
    this.metrics.request('error', 'http');
    this.audit.record({
      kind: 'http',
      direction: 'outbound',
      listener,
      client: (socket as Socket).remoteAddress,
      status,
      decision: 'error',
      inspector: 'http-parser',
      reason,
      results: [],
      injected: [],
      redacted: [],
      bytesOut: 0,
      bytesIn: 0,
    });
  }

  // ---- shutdown ------------------------------------------------------------------------

  /**
   * Stops accepting, lets requests in flight finish (up to the grace period), then closes what is
   * left and flushes the audit log and HAR file. Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.ready = false;
    this.watcher?.close();
    const servers: net.Server[] = [this.forward, this.transparentHttp, this.transparentTls].filter(
      (s): s is net.Server => s !== undefined && s.listening,
    );
    const closed = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const s of [this.forward, this.inner, this.transparentHttp]) s?.closeIdleConnections();
    const grace = this.opts.shutdownGraceMs ?? 10_000;
    const deadline = Date.now() + grace;
    while (this.sockets.size > 0 && Date.now() < deadline) {
      for (const s of [this.forward, this.inner, this.transparentHttp]) s?.closeIdleConnections();
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const s of this.sockets) s.destroy();
    await closed;
    this.state.upstream.destroy();
    // Records from sockets closed just now are queued by their close handlers: let them run.
    await new Promise((r) => setImmediate(r));
    this.audit.close();
    if (this.metricsServer) {
      this.metricsServer.closeAllConnections();
      await new Promise<void>((r) => this.metricsServer!.close(() => r()));
    }
    this.metrics.close();
    this.log('info', 'proxy stopped');
  }
}
