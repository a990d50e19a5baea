// Command-line front of the proxy, shared by the image entry point (main.ts) and the
// `agentcage proxy` verb, so both take exactly the same flags.
// First import: V8 flags must be set before the proxy allocates anything (see v8-flags.ts).
import './v8-flags.ts';
import { Command, InvalidArgumentError } from 'commander';
import { stderrLogger } from './log.ts';
import { parseStaticHosts } from './net/lookup.ts';
import { ProxyServer, type Address } from './proxy/server.ts';

export const DEFAULTS = {
  policy: '/etc/agentcage/policy.json',
  listen: '0.0.0.0:3128',
  metrics: '0.0.0.0:9090',
  caDir: '/etc/agentcage/ca',
  audit: '/var/log/agentcage/audit.jsonl',
};

/** "HOST:PORT", "[v6]:PORT" or "PORT" (then on `defaultHost`). */
export function parseAddress(text: string, defaultHost = '0.0.0.0'): Address {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text) ?? /^()()(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new InvalidArgumentError(`"${text}" is not HOST:PORT (e.g. 127.0.0.1:3128) or PORT`);
  return { host: m[1] || m[2] || defaultHost, port };
}

export interface CliOptions {
  policy: string;
  listen: string;
  metrics: string;
  metricsDeny: string[];
  caDir: string;
  audit: string;
  har?: string;
  transparentHttp?: string;
  transparentHttps?: string;
  resolve: string[];
  shutdownGraceMs: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export function addProxyOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--policy <file>', 'the rendered policy document (JSON)', DEFAULTS.policy)
    .option('--listen <host:port>', 'explicit (forward) proxy listener', DEFAULTS.listen)
    .option('--metrics <host:port>', 'metrics, /healthz and /readyz listener', DEFAULTS.metrics)
    .option(
      '--metrics-deny <cidr>',
      "reset metrics connections from this network (repeatable; the agent's network when it can reach the proxy's address)",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option(
      '--ca-dir <dir>',
      'directory with the cage CA (ca.crt, ca.key); minted there when absent',
      DEFAULTS.caDir,
    )
    .option('--audit <file>', 'audit log, one JSON line per decision ("-" for stdout)', DEFAULTS.audit)
    .option('--har <file>', 'also capture flows as HAR 1.2 (filtered by the policy capture settings)')
    .option('--transparent-http <[host:]port>', 'transparent listener for redirected port-80 traffic')
    .option('--transparent-https <[host:]port>', 'transparent listener for redirected port-443 traffic')
    .option(
      '--resolve <name=ip>',
      'resolve NAME to IP before DNS (repeatable; the SSRF guard still checks IP)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--shutdown-grace-ms <ms>', 'how long SIGTERM waits for requests in flight', '10000')
    .option('--log-level <level>', 'debug, info, warn or error', 'info');
}

export async function startFromCli(o: CliOptions): Promise<ProxyServer> {
  const listen = parseAddress(o.listen);
  const log = stderrLogger(o.logLevel);
  return ProxyServer.start({
    policyPath: o.policy,
    listen,
    metrics: parseAddress(o.metrics),
    metricsDeny: o.metricsDeny,
    caDir: o.caDir,
    auditPath: o.audit,
    harPath: o.har,
    transparentHttp: o.transparentHttp ? parseAddress(o.transparentHttp, listen.host) : undefined,
    transparentHttps: o.transparentHttps ? parseAddress(o.transparentHttps, listen.host) : undefined,
    staticHosts: parseStaticHosts(o.resolve),
    shutdownGraceMs: Number(o.shutdownGraceMs),
    log,
  });
}

/** Runs until SIGTERM/SIGINT, then shuts down gracefully (audit flushed) and exits 0. */
export async function runProxy(o: CliOptions): Promise<void> {
  let server: ProxyServer;
  try {
    server = await startFromCli(o);
  } catch (e) {
    process.stderr.write(`agentcage proxy: ${(e as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const stop = (signal: string) => {
    server.log('info', 'shutting down', { signal });
    server.close().then(
      () => process.exit(0),
      (e: Error) => {
        process.stderr.write(`agentcage proxy: shutdown failed: ${e.message}\n`);
        process.exit(1);
      },
    );
  };
  // A rejection that escaped a handler concerns one exchange: log it rather than drop every
  // connection (an agent must not be able to restart the proxy with one odd request).
  process.on('unhandledRejection', (e) =>
    server.log('error', 'unhandled rejection', { error: e instanceof Error ? e.message : String(e) }),
  );
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

export function proxyProgram(name = 'agentcage-proxy'): Command {
  return addProxyOptions(new Command(name))
    .description("the inspecting proxy: the cage's only way out")
    .action((o: CliOptions) => runProxy(o));
}
