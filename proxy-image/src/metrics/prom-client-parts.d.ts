// prom-client's registry and metric classes from their own files: the package index also loads
// its default process collectors, Pushgateway, Summary, cluster aggregation and OpenTelemetry's
// API, which the proxy never uses (about 1 MB of heap, bench/proxy).
declare module 'prom-client/lib/registry.js' {
  import type { Registry } from 'prom-client';
  const R: typeof Registry;
  export default R;
}
declare module 'prom-client/lib/counter.js' {
  import type { Counter } from 'prom-client';
  const C: typeof Counter;
  export default C;
}
declare module 'prom-client/lib/gauge.js' {
  import type { Gauge } from 'prom-client';
  const G: typeof Gauge;
  export default G;
}
