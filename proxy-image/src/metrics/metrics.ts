// The proxy's Prometheus metrics (prom-client, own registry). Label values are a small fixed
// set (never a host or a path), and the children on the hot path are bound once.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Counter, Gauge, Registry } from 'prom-client';
import CounterImpl from 'prom-client/lib/counter.js';
import GaugeImpl from 'prom-client/lib/gauge.js';
import RegistryImpl from 'prom-client/lib/registry.js';
import { FastCounter, type CounterChild } from './fast-counter.ts';
import { FastHistogram } from './fast-histogram.ts';

export type RequestDecision = 'allow' | 'flag' | 'block' | 'rate_limited' | 'error';
export type Scheme = 'http' | 'https' | 'ws' | 'wss' | 'tunnel';

export class ProxyMetrics {
  readonly registry = new RegistryImpl();
  private readonly requests: FastCounter;
  private readonly bytes: FastCounter;
  private readonly inspector: FastHistogram;
  readonly certificatesMinted: Counter;
  readonly rateLimited: Counter;
  private readonly upstreamErrors: Counter<'reason'>;
  private readonly connections: Gauge<'listener'>;
  private readonly reloads: Counter<'result'>;
  private readonly frames: Counter<'direction' | 'decision'>;
  readonly policyGeneration: Gauge;
  private stopProcessMetrics: () => void = () => {};

  private readonly requestChildren = new Map<string, CounterChild>();
  private readonly inspectorChildren = new Map<string, (v: number) => void>();
  readonly bytesOut: CounterChild;
  readonly bytesIn: CounterChild;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) this.stopProcessMetrics = registerProcessMetrics(this.registry);
    // The two counters touched on every request: plain numbers, read at scrape time.
    this.requests = new FastCounter(
      'agentcage_proxy_requests_total',
      'Requests, WebSocket upgrades and tunnels decided, by decision and scheme.',
      ['decision', 'scheme'],
      this.registry,
    );
    this.bytes = new FastCounter(
      'agentcage_proxy_bytes_total',
      'Body and tunnel bytes relayed: outbound is agent to upstream, inbound is upstream to agent.',
      ['direction'],
      this.registry,
    );
    this.inspector = new FastHistogram(
      'agentcage_proxy_inspector_duration_seconds',
      'Time one inspector took on one message.',
      'inspector',
      [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
      this.registry,
    );
    this.certificatesMinted = new CounterImpl({
      name: 'agentcage_proxy_certificates_minted_total',
      help: 'Leaf certificates minted for TLS interception.',
      registers,
    });
    this.rateLimited = new CounterImpl({
      name: 'agentcage_proxy_rate_limited_total',
      help: 'Requests refused with 429 by the per-host rate limit.',
      registers,
    });
    this.upstreamErrors = new CounterImpl({
      name: 'agentcage_proxy_upstream_errors_total',
      help: 'Failures talking to upstream servers, by kind.',
      labelNames: ['reason'],
      registers,
    });
    this.connections = new GaugeImpl({
      name: 'agentcage_proxy_open_connections',
      help: 'Client connections currently open, by listener.',
      labelNames: ['listener'],
      registers,
    });
    this.reloads = new CounterImpl({
      name: 'agentcage_proxy_policy_reloads_total',
      help: 'Policy reload attempts, by result.',
      labelNames: ['result'],
      registers,
    });
    this.frames = new CounterImpl({
      name: 'agentcage_proxy_websocket_frames_total',
      help: 'WebSocket messages inspected, by direction and decision.',
      labelNames: ['direction', 'decision'],
      registers,
    });
    this.policyGeneration = new GaugeImpl({
      name: 'agentcage_proxy_policy_generation',
      help: 'How many policies have been loaded since start (1 after start).',
      registers,
    });
    this.bytesOut = this.bytes.child('outbound');
    this.bytesIn = this.bytes.child('inbound');
    for (const l of ['forward', 'transparent_http', 'transparent_https']) this.connections.labels(l).set(0);
    // Present from the first scrape (at 0), so rate() and absent() behave before any traffic.
    for (const d of ['allow', 'block', 'rate_limited']) this.requests.child(d, 'http').inc(0);
  }

  /** Stops the event-loop delay monitor (the only thing metrics run on their own). */
  close(): void {
    this.stopProcessMetrics();
  }

  request(decision: RequestDecision, scheme: Scheme): void {
    const key = decision + scheme;
    let c = this.requestChildren.get(key);
    if (c === undefined) {
      c = this.requests.child(decision, scheme);
      this.requestChildren.set(key, c);
    }
    c.inc();
  }

  inspectorTimings(timings: ReadonlyArray<[string, number]>): void {
    for (const [name, seconds] of timings) {
      let h = this.inspectorChildren.get(name);
      if (h === undefined) {
        h = this.inspector.child(name);
        this.inspectorChildren.set(name, h);
      }
      h(seconds);
    }
  }

  upstreamError(reason: string): void {
    this.upstreamErrors.labels(reason).inc();
  }

  connectionOpened(listener: string): void {
    this.connections.labels(listener).inc();
  }

  connectionClosed(listener: string): void {
    this.connections.labels(listener).dec();
  }

  reload(result: 'ok' | 'error'): void {
    this.reloads.labels(result).inc();
  }

  frame(direction: 'outbound' | 'inbound', decision: 'allow' | 'flag' | 'block'): void {
    this.frames.labels(direction, decision).inc();
  }
}

/**
 * The standard process metrics under their conventional names. prom-client's default set is not
 * used: some of its gauges end in _total, which `promtool check metrics` rejects.
 */
function registerProcessMetrics(registry: Registry): () => void {
  const registers = [registry];
  const started = Date.now() / 1000 - process.uptime();
  new GaugeImpl({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new GaugeImpl({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since the Unix epoch in seconds.',
    registers,
    collect() {
      this.set(Math.round(started));
    },
  });
  new CounterImpl({
    name: 'process_cpu_seconds_total',
    help: 'User and system CPU time spent in seconds.',
    registers,
    collect() {
      const u = process.cpuUsage();
      this.reset();
      this.inc((u.user + u.system) / 1e6);
    },
  });
  new GaugeImpl({
    name: 'nodejs_heap_size_used_bytes',
    help: 'V8 heap in use, in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  new GaugeImpl({
    name: 'nodejs_eventloop_lag_p99_seconds',
    help: '99th percentile event loop delay since the last scrape, in seconds.',
    registers,
    collect() {
      this.set(lag.percentile(99) / 1e9);
      lag.reset();
    },
  });
  return () => lag.disable();
}
