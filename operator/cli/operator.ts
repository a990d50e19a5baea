// `agentcage operator [--kubeconfig F] [--namespace N]`: runs the Kubernetes operator in this
// process (what the operator image runs): leader election, reconcile, /healthz /readyz /metrics.
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ClientNodeApi } from '../controller/kube/client-node.ts';
import { Operator, VERSION } from '../controller/kube/controller.ts';
import { startOperatorHttpServer } from '../controller/kube/http-server.ts';
import { jsonLogger, type Level } from '../controller/kube/log.ts';
import { OperatorMetrics } from '../controller/kube/metrics.ts';
import { CliError } from './io.ts';

const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function hostPort(v: string): { host: string; port: number } {
  const m = v.match(/^(?:\[([0-9a-fA-F:]+)\]|([^:]*)):(\d{1,5})$/);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError('give HOST:PORT, e.g. 0.0.0.0:8080 or 127.0.0.1:0');
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new InvalidArgumentError('give a whole number from 1 to 64');
  return n;
}

/** The operator's own namespace: --lease-namespace, $POD_NAMESPACE, the service account's, else default. */
function ownNamespace(flag: string | undefined): string {
  if (flag) return flag;
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    return readFileSync(SA_NAMESPACE, 'utf8').trim() || 'default';
  } catch {
    return 'default';
  }
}

interface OperatorFlags {
  kubeconfig?: string;
  namespace?: string;
  leaseNamespace?: string;
  leaseName: string;
  leaderElect: boolean;
  metricsAddr: { host: string; port: number };
  workers: number;
  proxyImage?: string;
  dnsImage?: string;
  netInitImage?: string;
  logLevel: Level;
}

export function operatorCommand(): Command {
  return new Command('operator')
    .description(
      'run the Kubernetes operator: reconcile Cages into pods, NetworkPolicies and status (the operator image runs this)',
    )
    .option(
      '--kubeconfig <file>',
      'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, else the in-cluster service account)',
    )
    .option('--namespace <ns>', 'watch Cages in this namespace only (default: all namespaces)')
    .option(
      '--lease-namespace <ns>',
      "namespace of the leader Lease (default: $POD_NAMESPACE, else the service account's)",
    )
    .option('--lease-name <name>', 'name of the leader Lease', 'agentcage-operator')
    .option('--no-leader-elect', 'do not take a Lease: only for a single replica')
    .addOption(
      new Option('--metrics-addr <host:port>', 'where /healthz, /readyz and /metrics listen')
        .argParser(hostPort)
        .default(hostPort('0.0.0.0:8080'), '0.0.0.0:8080'),
    )
    .option('--workers <n>', 'Cages reconciled at once (never the same Cage twice)', positive, 4)
    .option(
      '--proxy-image <ref>',
      'proxy image for cages (default: $AGENTCAGE_PROXY_IMAGE, else the built-in)',
    )
    .option('--dns-image <ref>', 'dnsmasq image for cages (default: $AGENTCAGE_DNS_IMAGE, else the built-in)')
    .option(
      '--net-init-image <ref>',
      'image of the transparent-mode init container (default: $AGENTCAGE_NET_INIT_IMAGE)',
    )
    .addOption(
      new Option('--log-level <level>', 'least severe level logged')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    )
    .action(async (flags: OperatorFlags) => {
      if (flags.kubeconfig && !existsSync(flags.kubeconfig))
        throw new CliError(`--kubeconfig ${flags.kubeconfig}: no such file`);
      const log = jsonLogger(flags.logLevel);
      let client: ClientNodeApi;
      try {
        client = ClientNodeApi.fromKubeconfig(flags.kubeconfig);
      } catch (err) {
        throw new CliError(
          `cannot load a kubeconfig (${(err as Error).message}): pass --kubeconfig or run in a cluster`,
        );
      }
      const images = {
        proxy: flags.proxyImage ?? process.env.AGENTCAGE_PROXY_IMAGE,
        dns: flags.dnsImage ?? process.env.AGENTCAGE_DNS_IMAGE,
        netInit: flags.netInitImage ?? process.env.AGENTCAGE_NET_INIT_IMAGE,
      };
      const metrics = new OperatorMetrics({ version: VERSION });
      const op = new Operator({
        client,
        namespace: flags.namespace,
        leaseNamespace: ownNamespace(flags.leaseNamespace),
        leaseName: flags.leaseName,
        leaderElection: flags.leaderElect,
        identity: process.env.POD_NAME ?? hostname(),
        workers: flags.workers,
        images: Object.fromEntries(Object.entries(images).filter(([, v]) => v)),
        metrics,
        log,
      });
      const server = await startOperatorHttpServer({
        host: flags.metricsAddr.host,
        port: flags.metricsAddr.port,
        registry: metrics.registry,
        healthz: () => op.healthz(),
        readyz: () => op.readyz(),
      }).catch((err: Error) => {
        throw new CliError(
          `cannot listen on ${flags.metricsAddr.host}:${flags.metricsAddr.port}: ${err.message}`,
        );
      });
      log('info', 'serving /healthz /readyz /metrics', { url: server.url, version: VERSION });
      op.start();
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          log('info', 'shutting down', { signal });
          resolve();
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
      await op.stop(); // a leader hands its Lease back, so a standby takes over at once
      await server.close();
      client.close();
    });
}

export function registerOperator(program: Command): void {
  program.addCommand(operatorCommand());
}
