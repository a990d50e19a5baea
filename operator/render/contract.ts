// The facts the rendered pods and the images agree on: ports, paths, env names, image defaults.
// One place for each, so the proxy, the dns image and both controllers read the same values.

export const PORTS = {
  /** The explicit forward proxy (HTTP_PROXY / HTTPS_PROXY). */
  proxy: 3128,
  /** Prometheus /metrics, /healthz and /readyz of the proxy. */
  metrics: 9090,
  /** Transparent mode: NAT'd port 80 and 443 traffic lands here (non-root cannot bind 80/443). */
  transparentHttp: 8080,
  transparentHttps: 8443,
  /** dnsmasq in Kubernetes: uid 10001 binds 5353; the Service maps 53 to it. */
  dnsContainer: 5353,
  /** What resolvers are asked on (resolv.conf has no port); dnsmasq listens here in podman. */
  dns: 53,
} as const;

export const PATHS = {
  /** The rendered proxy policy (ConfigMap mounted as a directory, so updates reach the file). */
  policyDir: '/etc/agentcage/policy',
  policyFile: '/etc/agentcage/policy/policy.json',
  /** The dns image reads /etc/agentcage/dnsmasq.conf (dns-image/entrypoint.sh). */
  dnsmasqDir: '/etc/agentcage',
  dnsmasqFile: '/etc/agentcage/dnsmasq.conf',
  /** The cage CA certificate the agent trusts (ConfigMap), and the CA key pair the proxy signs with (Secret). */
  agentCaDir: '/etc/agentcage/ca',
  agentCaFile: '/etc/agentcage/ca/ca.crt',
  /** The cage CA followed by the public roots (context publicRootsPem): for the variables that replace the system store. */
  agentCaBundle: '/etc/agentcage/ca/bundle.crt',
  /** The proxy's --ca-dir: ca.crt and ca.key (proxy-image/src/tls/ca.ts). */
  proxyCaDir: '/run/agentcage/ca',
  proxyCaCert: 'ca.crt',
  proxyCaKey: 'ca.key',
  /** HAR capture, when spec.capture.har: directly in the proxy's writable /tmp (the proxy creates no directories); `cage har` reads it. */
  harFile: '/tmp/flows.har',
  /** Real secret values, one file per secret name (Kubernetes). */
  secretDir: '/run/agentcage/secrets',
} as const;

/** podman 4.3 cannot mount secrets as files (kube play panics on secret volumes): env instead. */
export const PROXY_ENV = {
  secretPrefix: 'AGENTCAGE_SECRET_',
} as const;

/** The variables agents' tools read to trust an extra CA. */
export const CA_TRUST_VARS = [
  'SSL_CERT_FILE',
  'NODE_EXTRA_CA_CERTS',
  'REQUESTS_CA_BUNDLE',
  'CURL_CA_BUNDLE',
  'GIT_SSL_CAINFO',
] as const;

export const DEFAULT_IMAGES = {
  proxy: 'localhost/agentcage-proxy:dev',
  dns: 'localhost/agentcage-dns:dev',
  /** Runs iptables in init containers (NET_ADMIN): the dns image carries iptables and iproute2. */
  netInit: 'localhost/agentcage-dns:dev',
} as const;

/** The uid/gid the proxy and dns images run as (their Containerfiles say USER 10001). */
export const SYSTEM_UID = 10001;

/** Key of the value inside each podman secret agentcage creates (see podmanSecretData). */
export const PODMAN_SECRET_KEY = 'value';

/**
 * The proxy's command-line arguments (proxy-image/src/cli.ts): the image's ENTRYPOINT is the proxy.
 * The audit goes to stdout, so `kubectl logs` / `podman logs` carry it.
 */
export function proxyArgs(opts: {
  transparent: boolean;
  har: boolean;
  /** networks whose connections the metrics port resets: the agent's, where it can reach it */
  metricsDeny?: string[];
}): string[] {
  const args = [
    '--policy',
    PATHS.policyFile,
    '--listen',
    `0.0.0.0:${PORTS.proxy}`,
    '--metrics',
    `0.0.0.0:${PORTS.metrics}`,
    '--ca-dir',
    PATHS.proxyCaDir,
    '--audit',
    '-',
  ];
  for (const cidr of opts.metricsDeny ?? []) args.push('--metrics-deny', cidr);
  if (opts.har) args.push('--har', PATHS.harFile);
  if (opts.transparent)
    args.push(
      '--transparent-http',
      `0.0.0.0:${PORTS.transparentHttp}`,
      '--transparent-https',
      `0.0.0.0:${PORTS.transparentHttps}`,
    );
  return args;
}

/** The env var that carries one secret's real value into the proxy (podman). */
export function proxySecretEnv(secretName: string): string {
  return PROXY_ENV.secretPrefix + secretName;
}
