// The operator's Prometheus metrics (prom-client, own registry). Label values come from fixed
// sets (results, phases, kinds), never from a Cage's name.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { PHASES } from '../../api/cage.ts';

export type ReconcileResult = 'success' | 'error' | 'invalid' | 'requeue';

export interface OperatorMetricsOptions {
  version: string;
  defaultMetrics?: boolean;
  /** Cages per phase, read at scrape time from the informer's cache. */
  cagesByPhase?: () => Record<string, number>;
}

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles: Counter<'result'>;
  readonly reconcileDuration: Histogram;
  readonly queueDepth: Gauge;
  readonly applies: Counter<'kind'>;
  readonly deletes: Counter<'kind'>;
  readonly watchFailures: Counter<'resource'>;
  readonly leader: Gauge;
  readonly caMinted: Counter<'reason'>;
  private phaseSource?: () => Record<string, number>;

  constructor(opts: OperatorMetricsOptions) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) registerProcessMetrics(this.registry);
    this.phaseSource = opts.cagesByPhase;
    this.reconciles = new Counter({
      name: 'agentcage_operator_reconciles_total',
      help: 'Cage reconciles by result: success, error (retried with backoff), invalid (spec refused), requeue (waiting on the cluster).',
      labelNames: ['result'],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'agentcage_operator_reconcile_duration_seconds',
      help: 'Time one Cage reconcile took.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'agentcage_operator_queue_depth',
      help: 'Cages waiting in the work queue.',
      registers,
    });
    this.applies = new Counter({
      name: 'agentcage_operator_applies_total',
      help: 'Objects written with server-side apply, by kind (unchanged objects are not re-applied).',
      labelNames: ['kind'],
      registers,
    });
    this.deletes = new Counter({
      name: 'agentcage_operator_deletes_total',
      help: 'Owned objects deleted because no Cage wants them any more, by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.watchFailures = new Counter({
      name: 'agentcage_operator_watch_failures_total',
      help: 'Watches that failed and were restarted with backoff, by resource.',
      labelNames: ['resource'],
      registers,
    });
    this.leader = new Gauge({
      name: 'agentcage_operator_leader',
      help: '1 while this replica holds the leader Lease and reconciles, else 0.',
      registers,
    });
    this.caMinted = new Counter({
      name: 'agentcage_operator_ca_minted_total',
      help: 'Cage CAs minted, by reason: new (first), rotation (before expiry), replaced (unusable).',
      labelNames: ['reason'],
      registers,
    });
    const phases = () => this.phaseSource?.() ?? {};
    new Gauge({
      name: 'agentcage_operator_cages',
      help: 'Cages known to this replica by status phase.',
      labelNames: ['phase'],
      registers,
      collect() {
        const counts = phases();
        this.reset();
        for (const p of PHASES) this.set({ phase: p }, counts[p] ?? 0);
      },
    });
    new Gauge({
      name: 'agentcage_operator_build_info',
      help: 'Always 1; labels say which build runs.',
      labelNames: ['version', 'nodejs'],
      registers,
    }).set({ version: opts.version, nodejs: process.version }, 1);
  }

  setPhaseSource(f: () => Record<string, number>): void {
    this.phaseSource = f;
  }
}

/**
 * prom-client's standard process_* and nodejs_* metrics under their usual names, less the three
 * gauges it also names *_total (promtool check metrics refuses a non-counter with that suffix;
 * the same values stay as nodejs_active_handles, _requests and _resources).
 */
function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ])
    registry.removeSingleMetric(name);
}
