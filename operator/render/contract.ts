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
  proxyCaDir: '/run/agentcage/ca',
  proxyCaCert: '/run/agentcage/ca/tls.crt',
  proxyCaKey: '/run/agentcage/ca/tls.key',
  /** Real secret values, one file per secret name (Kubernetes). */
  secretDir: '/run/agentcage/secrets',
} as const;

/** podman 4.3 cannot mount secrets as files (kube play panics on secret volumes): env instead. */
export const PROXY_ENV = {
  caCert: 'AGENTCAGE_CA_CERT',
  caKey: 'AGENTCAGE_CA_KEY',
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

/** Proxy command-line flags: the proxy image's ENTRYPOINT is the proxy, these are its args. */
export function proxyArgs(opts: { caFrom: 'file' | 'env'; transparent: boolean }): string[] {
  const args = [
    '--policy',
    PATHS.policyFile,
    '--port',
    String(PORTS.proxy),
    '--metrics-port',
    String(PORTS.metrics),
  ];
  if (opts.transparent)
    args.push(
      '--transparent-http-port',
      String(PORTS.transparentHttp),
      '--transparent-https-port',
      String(PORTS.transparentHttps),
    );
  if (opts.caFrom === 'file') args.push('--ca-cert', PATHS.proxyCaCert, '--ca-key', PATHS.proxyCaKey);
  else args.push('--ca-cert-env', PROXY_ENV.caCert, '--ca-key-env', PROXY_ENV.caKey);
  return args;
}

/** The env var that carries one secret's real value into the proxy (podman). */
export function proxySecretEnv(secretName: string): string {
  return PROXY_ENV.secretPrefix + secretName;
}
