// A counter for the hot path (requests, bytes): prom-client's inc() re-hashes the label set on
// every call, several times per request. This keeps one plain number per label set, bound once,
// and hands prom-client's registry the same exposition at scrape time (as FastHistogram does).
import type { Registry } from 'prom-client';

interface Cell {
  labels: Record<string, string>;
  value: number;
}

export interface CounterChild {
  inc(n?: number): void;
}

export class FastCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly cells = new Map<string, Cell>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    if (!name.endsWith('_total')) throw new Error(`counter ${name} must end in _total`);
    registry.registerMetric(this as never);
  }

  /** The counter for one set of label values (look it up once, then call inc on the hot path). */
  child(...values: string[]): CounterChild {
    if (values.length !== this.labelNames.length)
      throw new Error(`${this.name} takes ${this.labelNames.length} label values, got ${values.length}`);
    const key = values.join('\u0000');
    let cell = this.cells.get(key);
    if (cell === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((l, i) => (labels[l] = values[i]));
      cell = { labels, value: 0 };
      this.cells.set(key, cell);
    }
    const c = cell;
    return {
      inc(n = 1) {
        if (!(n >= 0)) throw new Error('a counter only goes up');
        c.value += n;
      },
    };
  }

  // ---- what prom-client's registry calls ----

  async get(): Promise<object> {
    const values = [...this.cells.values()].map((c) => ({ labels: c.labels, value: c.value }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const c of this.cells.values()) c.value = 0;
  }
}
