// Cage -> the Kubernetes objects that run it: agent Pod, proxy and DNS Deployments + Services, their
// ConfigMaps, and NetworkPolicies that leave the agent no way out but the proxy and DNS.
// NetworkPolicy holds only where the CNI enforces it (Calico, Cilium, ...); the controller says so.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import type { INetworkPolicyEgressRule } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyEgressRule';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import type { INetworkPolicyPort } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort';
import type { IIoK8sApimachineryPkgApisMetaV1ObjectMeta as ObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import { API_VERSION, KIND, type Cage } from '../api/cage.ts';
import { PATHS, PORTS, proxyArgs, SYSTEM_UID } from './contract.ts';
import { caConfigMapData, images, placeholdersFor, RenderError, type KubernetesContext } from './context.ts';
import { renderDnsmasq } from './dnsmasq.ts';
import { cageNames, labels, selectorLabels, type Component } from './names.ts';
import {
  agentPodSpec,
  DNS_RESOURCES,
  hardened,
  netAdminInit,
  basePodSpec,
  pullPolicy,
  transparentScript,
} from './pods.ts';
import { renderPolicy } from './policy.ts';

export type KubeObject = IPod | IDeployment | IService | IConfigMap | INetworkPolicy;

/** Stands in for a Service ClusterIP not observed yet (TEST-NET-1: routes nowhere, so it fails closed). */
export const AWAITING_IP = '192.0.2.1';

/** What the proxy must never reach, whatever DNS says: private, CGNAT, link-local (metadata), loopback. */
export const PROXY_DENIED_V4 = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '169.254.0.0/16',
  '127.0.0.0/8',
];
/** The same for IPv6: ULA, link-local, IPv4-mapped and NAT64 (both can reach the v4 ranges above). */
export const PROXY_DENIED_V6 = ['fc00::/7', 'fe80::/10', '::ffff:0:0/96', '64:ff9b::/96'];

const DEFAULT_METRICS_NS = { 'kubernetes.io/metadata.name': 'monitoring' };
const DEFAULT_CLUSTER_DNS = {
  namespaceLabels: { 'kubernetes.io/metadata.name': 'kube-system' },
  podLabels: { 'k8s-app': 'kube-dns' },
};

/**
 * Metadata of an object the Cage owns: its component's labels and, once the Cage has a uid, a
 * controller ownerReference (Kubernetes garbage-collects the object with the Cage).
 */
export function ownedMeta(
  cage: Cage,
  name: string,
  component: Component,
  namespace: string,
  uid: string | undefined,
  extra: { annotations?: Record<string, string> } = {},
) {
  return {
    name,
    namespace,
    labels: labels(cage, component),
    ...(uid
      ? {
          ownerReferences: [
            {
              apiVersion: API_VERSION,
              kind: KIND,
              name: cage.metadata.name,
              uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        }
      : {}),
    ...extra,
  };
}

export function renderKubernetes(cage: Cage, ctx: KubernetesContext = {}): KubeObject[] {
  const n = cageNames(cage);
  const img = images(ctx);
  const ns = ctx.namespace ?? cage.metadata.namespace ?? 'default';
  const uid = ctx.uid ?? (cage.metadata as { uid?: string }).uid;
  const transparent = cage.spec.proxy.mode === 'transparent';
  const placeholders = placeholdersFor(cage, ctx);
  const dnsIP = observedIP('dnsServiceIP', ctx.dnsServiceIP);
  const proxyIP = observedIP('proxyServiceIP', ctx.proxyServiceIP);
  const proxyHost = `${n.proxy}.${ns}.svc.${ctx.clusterDomain ?? 'cluster.local'}`;

  const meta = (
    name: string,
    component: Component,
    extra: { annotations?: Record<string, string> } = {},
  ): ObjectMeta => ownedMeta(cage, name, component, ns, uid, extra);
  const sel = (c: Component) => ({ matchLabels: selectorLabels(cage, c) });
  const tcp = (port: number): INetworkPolicyPort => ({ protocol: 'TCP', port });
  const udp = (port: number): INetworkPolicyPort => ({ protocol: 'UDP', port });
  const proxyPorts = [PORTS.proxy, ...(transparent ? [PORTS.transparentHttp, PORTS.transparentHttps] : [])];

  // ---- ConfigMaps ----
  const policy = renderPolicy(cage, { ...ctx, secretSource: 'file' });
  const dnsmasqConf = renderDnsmasq(cage, {
    ...ctx,
    port: PORTS.dnsContainer,
    proxyIP: transparent ? ctx.proxyServiceIP : undefined,
  });
  const policyCm: IConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(n.policyConfigMap, 'proxy'),
    data: { 'policy.json': JSON.stringify(policy, null, 2) + '\n' },
  };
  const dnsCm: IConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(n.dnsmasqConfigMap, 'dns'),
    data: { 'dnsmasq.conf': dnsmasqConf },
  };
  const caCm: IConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(n.caConfigMap, 'agent'),
    data: caConfigMapData(ctx),
  };

  // ---- agent ----
  const agentSpec = agentPodSpec(cage, {
    placeholders,
    proxyUrl: `http://${proxyHost}:${PORTS.proxy}`,
    caConfigMap: n.caConfigMap,
    volName: (v) => v,
    dnsIP,
    hostPorts: false,
    // The proxy's name is pinned in /etc/hosts because dnsmasq answers every unlisted name with
    // the placeholder.
    extra: { hostAliases: [{ ip: proxyIP, hostnames: [proxyHost] }] },
  });
  const agentAnnotations: Record<string, string> = {};
  if (transparent) {
    agentSpec.initContainers = [
      netAdminInit('transparent-redirect', img.netInit, transparentScript(proxyIP, false), 'init-run'),
    ];
    agentSpec.volumes = [...(agentSpec.volumes ?? []), { name: 'init-run', emptyDir: { sizeLimit: '1Mi' } }];
    agentAnnotations['agentcage.io/pod-security'] =
      'transparent mode: an init container with NET_ADMIN sets the NAT redirect, which the "restricted" Pod Security Standard forbids';
  }
  const agentPod: IPod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: meta(
      n.agent,
      'agent',
      Object.keys(agentAnnotations).length ? { annotations: agentAnnotations } : {},
    ),
    spec: agentSpec,
  };

  // ---- proxy ----
  const proxyVolumes: IVolume[] = [
    { name: 'policy', configMap: { name: n.policyConfigMap } },
    {
      name: 'ca',
      // A kubernetes.io/tls Secret the controller mints; the proxy's --ca-dir wants ca.crt + ca.key.
      secret: {
        secretName: n.caSecret,
        defaultMode: 0o440,
        items: [
          { key: 'tls.crt', path: PATHS.proxyCaCert },
          { key: 'tls.key', path: PATHS.proxyCaKey },
        ],
      },
    },
    { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
  ];
  const proxyMounts: IVolumeMount[] = [
    { name: 'policy', mountPath: PATHS.policyDir, readOnly: true },
    { name: 'ca', mountPath: PATHS.proxyCaDir, readOnly: true },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  if (cage.spec.secrets.length) {
    // One projected volume: each secret's value is the file /run/agentcage/secrets/<NAME>.
    proxyVolumes.push({
      name: 'secrets',
      projected: {
        defaultMode: 0o440,
        sources: cage.spec.secrets.map((s) => {
          const ref = s.valueFrom?.secretKeyRef ?? { name: n.valuesSecret, key: s.name };
          return { secret: { name: ref.name, items: [{ key: ref.key, path: s.name }] } };
        }),
      },
    });
    proxyMounts.push({ name: 'secrets', mountPath: PATHS.secretDir, readOnly: true });
  }
  const proxyContainer: IContainer = {
    name: 'proxy',
    image: img.proxy,
    imagePullPolicy: pullPolicy(img.proxy),
    args: proxyArgs({ transparent, har: cage.spec.capture.har }),
    ports: [
      ...proxyPorts.map((p) => ({ name: portName(p), containerPort: p, protocol: 'TCP' as const })),
      { name: 'metrics', containerPort: PORTS.metrics, protocol: 'TCP' as const },
    ],
    volumeMounts: proxyMounts,
    resources: cage.spec.proxy.resources,
    readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' }, periodSeconds: 5 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 10, failureThreshold: 3 },
    securityContext: hardened(),
  };
  const proxyDeploy = deployment(
    meta(n.proxy, 'proxy'),
    sel('proxy'),
    labels(cage, 'proxy'),
    {
      ...basePodSpec(SYSTEM_UID, SYSTEM_UID),
      containers: [proxyContainer],
      volumes: proxyVolumes,
    },
    { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(PORTS.metrics) },
  );
  const proxySvc: IService = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(n.proxy, 'proxy'),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(cage, 'proxy'),
      ports: [
        ...proxyPorts.map((p) => ({ name: portName(p), port: p, targetPort: p, protocol: 'TCP' as const })),
        { name: 'metrics', port: PORTS.metrics, targetPort: PORTS.metrics, protocol: 'TCP' as const },
      ],
    },
  };

  // ---- dns ----
  const dnsContainer: IContainer = {
    name: 'dnsmasq',
    image: img.dns,
    imagePullPolicy: pullPolicy(img.dns),
    ports: [
      { name: 'dns-udp', containerPort: PORTS.dnsContainer, protocol: 'UDP' },
      { name: 'dns-tcp', containerPort: PORTS.dnsContainer, protocol: 'TCP' },
    ],
    volumeMounts: [
      { name: 'config', mountPath: PATHS.dnsmasqDir, readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ],
    resources: DNS_RESOURCES,
    readinessProbe: { tcpSocket: { port: PORTS.dnsContainer }, periodSeconds: 5 },
    securityContext: hardened(),
  };
  const dnsDeploy = deployment(
    meta(n.dns, 'dns'),
    sel('dns'),
    labels(cage, 'dns'),
    {
      ...basePodSpec(SYSTEM_UID, SYSTEM_UID),
      containers: [dnsContainer],
      volumes: [
        { name: 'config', configMap: { name: n.dnsmasqConfigMap } },
        { name: 'tmp', emptyDir: { sizeLimit: '16Mi' } },
      ],
    },
    {
      // dnsmasq reads its config once: a changed config must roll the pod.
      'agentcage.io/config-sha256': createHash('sha256').update(dnsmasqConf).digest('hex'),
    },
  );
  const dnsSvc: IService = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(n.dns, 'dns'),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(cage, 'dns'),
      ports: [
        { name: 'dns-udp', port: PORTS.dns, targetPort: PORTS.dnsContainer, protocol: 'UDP' },
        { name: 'dns-tcp', port: PORTS.dns, targetPort: PORTS.dnsContainer, protocol: 'TCP' },
      ],
    },
  };

  // ---- NetworkPolicies ----
  const peer = (c: Component): INetworkPolicyPeer => ({ podSelector: sel(c) });
  const agentNp: INetworkPolicy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(n.agent, 'agent'),
    spec: {
      podSelector: sel('agent'),
      // Ingress listed with no rule: nothing may connect to the agent.
      policyTypes: ['Ingress', 'Egress'],
      egress: [
        { to: [peer('proxy')], ports: proxyPorts.map(tcp) },
        { to: [peer('dns')], ports: [udp(PORTS.dnsContainer), tcp(PORTS.dnsContainer)] },
      ],
    },
  };
  const cd = ctx.clusterDns ?? DEFAULT_CLUSTER_DNS;
  const proxyNp: INetworkPolicy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(n.proxy, 'proxy'),
    spec: {
      podSelector: sel('proxy'),
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        { from: [peer('agent')], ports: proxyPorts.map(tcp) },
        {
          from: [{ namespaceSelector: { matchLabels: ctx.metricsNamespaceLabels ?? DEFAULT_METRICS_NS } }],
          ports: [tcp(PORTS.metrics)],
        },
      ],
      egress: [
        {
          to: [
            { ipBlock: { cidr: '0.0.0.0/0', except: PROXY_DENIED_V4 } },
            { ipBlock: { cidr: '::/0', except: PROXY_DENIED_V6 } },
          ],
          ports: cage.spec.egress.ports.map(tcp),
        },
        {
          // The proxy resolves upstream names through the cluster's DNS, not the cage's dnsmasq
          // (which may answer with the proxy's own address in transparent mode).
          to: [
            {
              namespaceSelector: { matchLabels: cd.namespaceLabels },
              podSelector: { matchLabels: cd.podLabels },
            },
          ],
          ports: [udp(PORTS.dns), tcp(PORTS.dns)],
        },
      ],
    },
  };
  const dnsNp: INetworkPolicy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(n.dns, 'dns'),
    spec: {
      podSelector: sel('dns'),
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [peer('agent')], ports: [udp(PORTS.dnsContainer), tcp(PORTS.dnsContainer)] }],
      egress: upstreamRules(cage.spec.dns.upstreams),
    },
  };

  return [policyCm, dnsCm, caCm, dnsDeploy, dnsSvc, proxyDeploy, proxySvc, agentPod, agentNp, proxyNp, dnsNp];
}

function observedIP(what: string, ip: string | undefined): string {
  if (ip === undefined) return AWAITING_IP;
  if (!isIP(ip)) throw new RenderError(`(context).${what}`, `not an IP address: ${ip}`);
  return ip;
}

function portName(p: number): string {
  if (p === PORTS.transparentHttp) return 'http';
  if (p === PORTS.transparentHttps) return 'https';
  return 'proxy';
}

function deployment(
  metadata: ObjectMeta,
  selector: { matchLabels: Record<string, string> },
  podLabels: Record<string, string>,
  spec: IPodSpec,
  annotations: Record<string, string> = {},
): IDeployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata,
    spec: {
      replicas: 1,
      selector,
      template: { metadata: { labels: podLabels, annotations }, spec },
    },
  };
}

/** DNS egress: to each upstream resolver's address on its port (53 unless `IP#port`), UDP and TCP. */
function upstreamRules(upstreams: string[]): INetworkPolicyEgressRule[] {
  const byPort = new Map<number, string[]>();
  for (const u of upstreams) {
    const [ip, port] = u.split('#');
    const p = port ? Number(port) : PORTS.dns;
    byPort.set(p, [...(byPort.get(p) ?? []), `${ip}/${ip.includes(':') ? 128 : 32}`]);
  }
  return [...byPort].map(([port, cidrs]) => ({
    to: cidrs.map((cidr) => ({ ipBlock: { cidr } })),
    ports: [
      { protocol: 'UDP' as const, port },
      { protocol: 'TCP' as const, port },
    ],
  }));
}
