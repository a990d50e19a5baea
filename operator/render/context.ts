// What a renderer needs from outside the Cage: everything random, observed or time-dependent comes in
// here, so rendering stays pure (same Cage + same context = same output).
import type { Cage } from '../api/cage.ts';
import { formatPath } from '../api/validation.ts';
import { DEFAULT_IMAGES } from './contract.ts';

export interface RenderImages {
  proxy: string;
  dns: string;
  /** Image for the NET_ADMIN init containers (iptables, ip). */
  netInit: string;
}

export interface RenderContext {
  /** secret name -> placeholder, for secrets whose spec gives none (generated once and kept by a controller). */
  placeholders?: Record<string, string>;
  /** Now, for egress expiry (RFC 3339 or Date). Absent: no entry counts as expired. */
  now?: Date | string;
  images?: Partial<RenderImages>;
  /**
   * Public root CAs (PEM) appended to the cage CA in the agent's bundle.crt, which SSL_CERT_FILE and
   * friends point at: without them TLS to passthrough domains (not re-signed by the proxy) fails in
   * the agent. A controller may pass node:tls rootCertificates.join('\n').
   */
  publicRootsPem?: string;
}

export interface PolicyContext extends RenderContext {
  /** Where the proxy reads each real secret value: files under secretDir (default), or its own env (podman). */
  secretSource?: 'file' | 'env';
  /** Default /run/agentcage/secrets. */
  secretDir?: string;
  /** CIDRs the proxy's SSRF guard lets through (tests and local stand-in internets only). */
  ssrfAllowCidrs?: string[];
  /** Extra CA bundle the proxy trusts for upstream TLS (tests, private upstreams). */
  upstreamExtraCaFile?: string;
}

export interface DnsmasqContext extends RenderContext {
  /** Port dnsmasq listens on. Default 53. */
  port?: number;
  /** Bind only this address (podman: the dns pod's fixed IP on the cage network). */
  listenAddress?: string;
  /** Transparent mode: allowed names resolve to the proxy at this IPv4 address. */
  proxyIP?: string;
}

export interface KubernetesContext extends RenderContext {
  /** Default: metadata.namespace, else "default". */
  namespace?: string;
  /** The Cage's uid for owner references. Default metadata.uid; with neither, objects carry no owner reference. */
  uid?: string;
  /** ClusterIP of the cage's DNS Service, observed once it exists. Absent: AWAITING_IP, to be filled. */
  dnsServiceIP?: string;
  /** ClusterIP of the cage's proxy Service (agent /etc/hosts entry; transparent NAT target). Absent: AWAITING_IP. */
  proxyServiceIP?: string;
  /** PEM of the cage CA certificate for the agent's trust ConfigMap. Absent: empty (TLS through the proxy fails closed). */
  caCertPem?: string;
  /** Labels of the namespace Prometheus scrapes from. Default {"kubernetes.io/metadata.name": "monitoring"}. */
  metricsNamespaceLabels?: Record<string, string>;
  /** The proxy's own resolver (it must see real addresses, so not the cage's dnsmasq). Default: kube-dns in kube-system. */
  clusterDns?: { namespaceLabels: Record<string, string>; podLabels: Record<string, string> };
  /** Default cluster.local. */
  clusterDomain?: string;
}

export interface PodmanContext extends RenderContext {
  /** Subnets (CIDR) other cages or networks already use on this host. */
  usedSubnets?: string[];
  /** Keep this subnet (an update of a cage whose network exists). */
  subnet?: string;
  /** Pool the cage subnets are cut from, in /24s. Default 10.213.0.0/16. */
  subnetPool?: string;
  /** Network the proxy and dns pods reach the internet through. Default agentcage-egress. */
  egressNetwork?: string;
  /** PEM of the cage CA certificate for the agent's trust ConfigMap. Absent: empty (fails closed). */
  caCertPem?: string;
  /** PEM of the cage CA's private key, for the proxy (with caCertPem). Absent: the proxy has no CA and does not start. */
  caKeyPem?: string;
  /** Passed to the proxy policy: CIDRs its SSRF guard lets through (local stand-in internets). */
  ssrfAllowCidrs?: string[];
  upstreamExtraCaFile?: string;
  /** PEM of an extra CA the proxy trusts for upstream TLS: shipped in the policy ConfigMap (sets upstreamExtraCaFile). */
  upstreamCaPem?: string;
  /** Names the proxy resolves without DNS (hostAliases of the proxy pod): local stand-in upstreams. */
  proxyHostAliases?: { ip: string; hostnames: string[] }[];
}

/** The agent's trust ConfigMap data: the cage CA alone, and the bundle. */
export function caConfigMapData(ctx: {
  caCertPem?: string;
  publicRootsPem?: string;
}): Record<string, string> {
  const ca = ctx.caCertPem ?? '';
  const roots = ctx.publicRootsPem ?? '';
  return { 'ca.crt': ca, 'bundle.crt': roots ? `${ca.trimEnd()}\n${roots.trimEnd()}\n` : ca };
}

/** A render that cannot proceed names the field, like validation does. */
export class RenderError extends Error {
  constructor(
    public readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'RenderError';
  }
}

export function images(ctx: RenderContext): RenderImages {
  return { ...DEFAULT_IMAGES, ...ctx.images };
}

/** secret name -> placeholder: the spec's own, else the context's; never invented here. */
export function placeholdersFor(cage: Cage, ctx: RenderContext): Record<string, string> {
  const out: Record<string, string> = {};
  cage.spec.secrets.forEach((s, i) => {
    const p = s.placeholder ?? ctx.placeholders?.[s.name];
    if (!p)
      throw new RenderError(
        formatPath(['spec', 'secrets', i, 'placeholder']),
        `secret "${s.name}" has no placeholder: give one in the spec or pass it in the render context (resolvePlaceholders)`,
      );
    out[s.name] = p;
  });
  return out;
}

export function nowMs(ctx: RenderContext): number | undefined {
  if (ctx.now === undefined) return undefined;
  const ms = ctx.now instanceof Date ? ctx.now.getTime() : Date.parse(ctx.now);
  if (Number.isNaN(ms)) throw new RenderError('(context).now', `not a time: ${String(ctx.now)}`);
  return ms;
}

/** False when the domain's expiry has passed at ctx.now. */
export function stillValid(cage: Cage, domain: string, now: number | undefined): boolean {
  const at = cage.spec.egress.expiry[domain];
  return at === undefined || now === undefined || Date.parse(at) > now;
}
