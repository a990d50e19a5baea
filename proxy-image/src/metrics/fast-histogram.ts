// A histogram with one label for the hot path: prom-client's observe() re-hashes the label set on
// every call, and the proxy observes one value per inspector per request. This keeps plain arrays
// per label value and hands prom-client's registry the same exposition (buckets, _sum, _count).
import type { Registry } from 'prom-client';

interface Series {
  counts: Float64Array; // per bucket, not cumulative
  sum: number;
  count: number;
}

export class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** A bound observer for one label value (look it up once, call it per observation). */
  child(value: string): (v: number) => void {
    let s = this.series.get(value);
    if (s === undefined) {
      s = { counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
      this.series.set(value, s);
    }
    const series = s;
    const buckets = this.buckets;
    return (v: number) => {
      let i = 0;
      while (i < buckets.length && v > buckets[i]) i++;
      series.counts[i]++;
      series.sum += v;
      series.count++;
    };
  }

  // ---- what prom-client's registry calls ----

  async get(): Promise<object> {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const [lv, s] of this.series) {
      let acc = 0;
      this.buckets.forEach((le, i) => {
        acc += s.counts[i];
        values.push({ labels: { le, [this.label]: lv }, value: acc, metricName: `${this.name}_bucket` });
      });
      acc += s.counts[this.buckets.length];
      values.push({
        labels: { le: '+Inf', [this.label]: lv },
        value: acc,
        metricName: `${this.name}_bucket`,
      });
      values.push({ labels: { [this.label]: lv }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { [this.label]: lv }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}
