// Cage -> what `podman kube play` runs locally, plus the network plan: which network each pod joins
// with which address, which podman secrets hold what, and the exact podman arguments, so the
// controller runs them without re-deriving anything.
//
// The leaks an internal network alone leaves open (../shared/notes/podman-dnsmasq-here.md) and
// what closes each:
// - aardvark DNS forwarding to the host's resolvers: the cage network is created --disable-dns and
//   the agent's resolver is set with dnsPolicy None + dnsConfig to the cage's dnsmasq.
// - the proxy or dns pod routing for the agent (pod namespaces inherit ip_forward=1): an init
//   container with NET_ADMIN sets FORWARD DROP in each of them.
// - cages reading each other's emptyDirs (podman shares them by name): every volume name carries
//   the cage's name.
// - host services through the bridge: --disable-dns leaves no IPv4 gateway address; IPv6 link-local
//   still reaches services bound to `::`. kube play ignores pod sysctls, so this file cannot turn
//   IPv6 off: the CONTROLLER MUST add the host rules of podmanHostFirewall(bridge) once the network
//   exists (and may also set default_sysctls net.ipv6.conf.all.disable_ipv6=1 in containers.conf).
// - published ports reachable from the network: hostIP 127.0.0.1 unless the Cage says
//   allowAllInterfaces (validated in operator/api/cage.ts).
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { SecretSpec, Cage } from '../api/cage.ts';
import { PATHS, PODMAN_SECRET_KEY, PORTS, proxyArgs, proxySecretEnv, SYSTEM_UID } from './contract.ts';
import { caConfigMapData, images, placeholdersFor, type PodmanContext } from './context.ts';
import { renderDnsmasq } from './dnsmasq.ts';
import { cageNames, labels, type Component } from './names.ts';
import {
  agentPodSpec,
  DNS_RESOURCES,
  hardened,
  netAdminInit,
  NO_FORWARD_SCRIPT,
  basePodSpec,
  pullPolicy,
  transparentScript,
} from './pods.ts';
import { renderPolicy } from './policy.ts';
import { pickSubnet, cageAddresses, DEFAULT_SUBNET_POOL, type CageSubnet } from './subnet.ts';
import { toYamlDocuments } from './yaml.ts';

export const DEFAULT_EGRESS_NETWORK = 'agentcage-egress';
/**
 * podman runs kube init containers once per pod by default, not on every start: after
 * `podman pod stop/start` (or a reboot) the FORWARD DROP and the NAT rules would be gone.
 */
export const INIT_ALWAYS = { 'io.podman.annotations.init.container.type': 'always' };
/**
 * A fixed MAC for a fixed cage address (locally administered 02:ac + the IPv4 octets). A pod that
 * restarts keeps it, so the agent's neighbour entry for its proxy stays valid: with a fresh MAC the
 * agent's stale ARP entry made connections hang for ~20 s after `podman pod start` of the proxy.
 */
export function staticMac(ip: string): string {
  return ['02', 'ac', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** Key (and file name) of PodmanContext.upstreamCaPem in the policy ConfigMap. */
export const UPSTREAM_CA_KEY = 'upstream-ca.crt';
/** Label on every network, secret and pod of a cage: how the controller finds what to remove. */
export const CAGE_LABEL = 'agentcage.io/cage';

export interface PodmanNetworkPlan {
  name: string;
  /** `podman network create` arguments (after `podman`). */
  createArgs: string[];
}

export interface PodmanSecretPlan {
  /** The podman secret's name. */
  name: string;
  /** Keys of its payload: create it with podmanSecretData({key: value, ...}) on stdin. */
  keys: string[];
  role: 'ca' | 'secret';
  /** role "secret": the Cage secret it holds, and where its real value comes from. */
  secret?: string;
  valueFrom?: SecretSpec['valueFrom'];
  /** `podman secret create` arguments; the payload goes on stdin. */
  createArgs: string[];
}

export interface PodmanPodPlan {
  component: Component;
  /** The pod's name (`podman pod inspect NAME`). */
  name: string;
  /** A file name for the YAML (the controller picks the directory). */
  file: string;
  objects: (IConfigMap | IPod)[];
  /** The kube YAML: one file per pod, because podman 4.3 applies --network to every pod in a file. */
  yaml: string;
  networks: { name: string; ip?: string }[];
  /** `podman kube play` arguments (after `podman`); append the file path, or `-` with the YAML on stdin. */
  playArgs: string[];
}

export interface PodmanPlan {
  cage: string;
  addresses: CageSubnet;
  /** The cage's own network: internal (no route out), no aardvark DNS. */
  network: PodmanNetworkPlan & { subnet: string; gateway: string };
  /** The shared network the proxy and dns pods reach upstream through; create it if missing. */
  egressNetwork: PodmanNetworkPlan;
  secrets: PodmanSecretPlan[];
  /** In play order: dns, proxy, agent. */
  pods: PodmanPodPlan[];
}

/** A podman secret's payload as kube play's secretKeyRef reads it in podman 4.3: JSON of base64 values. */
export function podmanSecretData(values: Record<string, string>): string {
  return JSON.stringify(
    Object.fromEntries(
      Object.entries(values).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]),
    ),
  );
}

/**
 * Host rules that keep a cage's bridge from reaching host services (IPv4 gateway and IPv6
 * link-local). `bridge` is `podman network inspect NAME --format '{{.NetworkInterface}}'`.
 * Insert with these arguments; remove with the same arguments and -D instead of -I.
 */
export function podmanHostFirewall(bridge: string): { command: 'iptables' | 'ip6tables'; args: string[] }[] {
  const args = ['-I', 'INPUT', '-i', bridge, '-j', 'REJECT'];
  return [
    { command: 'iptables', args },
    { command: 'ip6tables', args },
  ];
}

export function renderPodman(cage: Cage, ctx: PodmanContext = {}): PodmanPlan {
  const n = cageNames(cage);
  const img = images(ctx);
  const transparent = cage.spec.proxy.mode === 'transparent';
  const placeholders = placeholdersFor(cage, ctx);
  const addr = ctx.subnet
    ? cageAddresses(ctx.subnet)
    : pickSubnet(cage.metadata.name, ctx.usedSubnets, ctx.subnetPool ?? DEFAULT_SUBNET_POOL);
  const egressName = ctx.egressNetwork ?? DEFAULT_EGRESS_NETWORK;
  const cageLabel = `${CAGE_LABEL}=${cage.metadata.name}`;
  const meta = (name: string, c: Component) => ({
    name,
    labels: { ...labels(cage, c), [CAGE_LABEL]: cage.metadata.name },
  });
  const vol = n.volume;

  const play = (
    component: Component,
    name: string,
    objects: (IConfigMap | IPod)[],
    networks: PodmanPodPlan['networks'],
  ): PodmanPodPlan => ({
    component,
    name,
    file: `${name}.yaml`,
    objects,
    yaml: toYamlDocuments(objects),
    networks,
    playArgs: [
      'kube',
      'play',
      '--replace',
      ...networks.flatMap((net) => [
        '--network',
        net.ip ? `${net.name}:ip=${net.ip},mac=${staticMac(net.ip)}` : net.name,
      ]),
    ],
  });
  const noForwardInit = (pod: string): IContainer =>
    netAdminInit('no-forward', img.netInit, NO_FORWARD_SCRIPT, vol(`${pod}-run`));
  const runVolume = (pod: string) => ({ name: vol(`${pod}-run`), emptyDir: { sizeLimit: '1Mi' } });
  const tmpVolume = (pod: string) => ({ name: vol(`${pod}-tmp`), emptyDir: { sizeLimit: '64Mi' } });
  const tmpMount = (pod: string) => ({ name: vol(`${pod}-tmp`), mountPath: '/tmp' });

  // ---- dns: listens on 53 (resolv.conf has no port), on the cage network only ----
  const dnsConf = renderDnsmasq(cage, {
    ...ctx,
    port: PORTS.dns,
    listenAddress: addr.dns,
    proxyIP: transparent ? addr.proxy : undefined,
  });
  const dnsCm: IConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(n.dnsmasqConfigMap, 'dns'),
    data: { 'dnsmasq.conf': dnsConf },
  };
  const dnsPod: IPod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...meta(n.dns, 'dns'), annotations: INIT_ALWAYS },
    spec: {
      ...basePodSpec(SYSTEM_UID, SYSTEM_UID),
      // OnFailure: with Always, podman 4.3 runs init containers again in a loop.
      restartPolicy: 'OnFailure',
      initContainers: [noForwardInit('dns')],
      containers: [
        {
          name: 'dnsmasq',
          image: img.dns,
          imagePullPolicy: pullPolicy(img.dns),
          volumeMounts: [
            { name: vol('dns-config'), mountPath: PATHS.dnsmasqDir, readOnly: true },
            tmpMount('dns'),
          ],
          resources: DNS_RESOURCES,
          // Binding 53 as uid 10001 takes exactly this one capability.
          securityContext: {
            ...hardened({ addCaps: ['NET_BIND_SERVICE'] }),
            runAsUser: SYSTEM_UID,
            runAsGroup: SYSTEM_UID,
          },
        },
      ],
      volumes: [
        { name: vol('dns-config'), configMap: { name: n.dnsmasqConfigMap } },
        tmpVolume('dns'),
        runVolume('dns'),
      ],
    },
  };

  // ---- proxy: real values from podman secrets through env (podman 4.3 cannot mount them as files) ----
  // An extra upstream CA rides in the policy ConfigMap, next to the policy that names it.
  const upstreamCaFile = ctx.upstreamCaPem
    ? `${PATHS.policyDir}/${UPSTREAM_CA_KEY}`
    : ctx.upstreamExtraCaFile;
  const policy = renderPolicy(cage, { ...ctx, secretSource: 'env', upstreamExtraCaFile: upstreamCaFile });
  const policyCm: IConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(n.policyConfigMap, 'proxy'),
    data: {
      'policy.json': JSON.stringify(policy, null, 2) + '\n',
      ...(ctx.upstreamCaPem ? { [UPSTREAM_CA_KEY]: ctx.upstreamCaPem } : {}),
    },
  };
  const secretEnv = (env: string, secret: string, key: string) => ({
    name: env,
    valueFrom: { secretKeyRef: { name: secret, key } },
  });
  // The CA key pair for the proxy's --ca-dir. kube play cannot mount podman secrets as files, so it
  // rides in a ConfigMap of the proxy's own file (podman keeps it in a root-only volume, which the
  // controller removes with the cage). Without a key the proxy has no CA and refuses to start.
  const caKeyCm: IConfigMap | undefined =
    ctx.caCertPem && ctx.caKeyPem
      ? {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: meta(n.caSecret, 'proxy'),
          data: { [PATHS.proxyCaCert]: ctx.caCertPem, [PATHS.proxyCaKey]: ctx.caKeyPem },
        }
      : undefined;
  const proxyPod: IPod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...meta(n.proxy, 'proxy'), annotations: INIT_ALWAYS },
    spec: {
      ...basePodSpec(SYSTEM_UID, SYSTEM_UID),
      restartPolicy: 'OnFailure',
      ...(ctx.proxyHostAliases?.length ? { hostAliases: ctx.proxyHostAliases } : {}),
      initContainers: [noForwardInit('proxy')],
      containers: [
        {
          name: 'proxy',
          image: img.proxy,
          imagePullPolicy: pullPolicy(img.proxy),
          // The agent shares the cage network with the proxy's address there: keep it off /metrics.
          args: proxyArgs({ transparent, har: cage.spec.capture.har, metricsDeny: [addr.subnet] }),
          env: [
            ...cage.spec.secrets.map((s) =>
              secretEnv(proxySecretEnv(s.name), n.podmanSecret(s.name), PODMAN_SECRET_KEY),
            ),
          ],
          volumeMounts: [
            { name: vol('proxy-policy'), mountPath: PATHS.policyDir, readOnly: true },
            { name: vol('proxy-ca'), mountPath: PATHS.proxyCaDir, readOnly: true },
            tmpMount('proxy'),
          ],
          resources: cage.spec.proxy.resources,
          securityContext: { ...hardened(), runAsUser: SYSTEM_UID, runAsGroup: SYSTEM_UID },
        },
      ],
      volumes: [
        { name: vol('proxy-policy'), configMap: { name: n.policyConfigMap } },
        { name: vol('proxy-ca'), configMap: { name: n.caSecret } },
        tmpVolume('proxy'),
        runVolume('proxy'),
      ],
    },
  };

  // ---- agent: on the cage network only; resolver = the cage's dnsmasq, never aardvark ----
  const caCm: IConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(n.caConfigMap, 'agent'),
    data: caConfigMapData(ctx),
  };
  const agentSpec = agentPodSpec(cage, {
    placeholders,
    proxyUrl: `http://${addr.proxy}:${PORTS.proxy}`,
    caConfigMap: n.caConfigMap,
    volName: vol,
    dnsIP: addr.dns,
    hostPorts: true,
    extra: { restartPolicy: transparent ? 'OnFailure' : 'Always' },
  });
  if (transparent) {
    agentSpec.initContainers = [
      netAdminInit(
        'transparent-redirect',
        img.netInit,
        transparentScript(addr.proxy, true),
        vol('agent-run'),
      ),
    ];
    agentSpec.volumes = [...(agentSpec.volumes ?? []), runVolume('agent')];
  }
  const agentPod: IPod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: transparent ? { ...meta(n.agent, 'agent'), annotations: INIT_ALWAYS } : meta(n.agent, 'agent'),
    spec: agentSpec,
  };

  const secretPlan = (name: string, keys: string[], extra: Partial<PodmanSecretPlan>): PodmanSecretPlan => ({
    name,
    keys,
    role: 'secret',
    ...extra,
    createArgs: ['secret', 'create', '--label', cageLabel, name, '-'],
  });

  return {
    cage: cage.metadata.name,
    addresses: addr,
    network: {
      name: n.network,
      subnet: addr.subnet,
      gateway: addr.gateway,
      createArgs: [
        'network',
        'create',
        '--internal',
        '--disable-dns',
        '--subnet',
        addr.subnet,
        '--gateway',
        addr.gateway,
        '--label',
        cageLabel,
        n.network,
      ],
    },
    egressNetwork: {
      name: egressName,
      createArgs: ['network', 'create', '--label', 'agentcage.io/role=egress', egressName],
    },
    secrets: [
      ...cage.spec.secrets.map((s) =>
        secretPlan(n.podmanSecret(s.name), [PODMAN_SECRET_KEY], {
          secret: s.name,
          ...(s.valueFrom ? { valueFrom: s.valueFrom } : {}),
        }),
      ),
    ],
    pods: [
      play('dns', n.dns, [dnsCm, dnsPod], [{ name: n.network, ip: addr.dns }, { name: egressName }]),
      play('proxy', n.proxy, caKeyCm ? [policyCm, caKeyCm, proxyPod] : [policyCm, proxyPod], [
        { name: n.network, ip: addr.proxy },
        { name: egressName },
      ]),
      play('agent', n.agent, [caCm, agentPod], [{ name: n.network, ip: addr.agent }]),
    ],
  };
}
