// Pod pieces shared by the Kubernetes and podman renderers: hardening, the agent's environment and
// volumes, the NET_ADMIN init containers. Types come from kubernetes-models (type-only), so an
// unknown field in a literal fails `tsc`.
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import type { IPodSecurityContext } from 'kubernetes-models/v1/PodSecurityContext';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { ISecurityContext } from 'kubernetes-models/v1/SecurityContext';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import type { Cage } from '../api/cage.ts';
import { CA_TRUST_VARS, PATHS, PORTS } from './contract.ts';
import { RenderError } from './context.ts';

/** Kubernetes quantities for the proxy's and dns's sidecar-sized pods. */
export const DNS_RESOURCES = {
  limits: { cpu: '200m', memory: '64Mi' },
  requests: { cpu: '10m', memory: '16Mi' },
};

/** Every container: non-root, read-only root, no capabilities, no privilege escalation, seccomp. */
export function hardened(opts: { readOnlyRoot?: boolean; addCaps?: string[] } = {}): ISecurityContext {
  return {
    runAsNonRoot: true,
    readOnlyRootFilesystem: opts.readOnlyRoot ?? true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: opts.addCaps?.length ? { drop: ['ALL'], add: opts.addCaps } : { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function podSecurity(uid: number, gid: number): IPodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: gid,
    fsGroup: gid,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** What every cage pod shares: no service account token, no service env links, hardened identity. */
export function basePodSpec(uid: number, gid: number): Omit<IPodSpec, 'containers'> {
  return {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: podSecurity(uid, gid),
  };
}

/**
 * An init container that runs `script` as root with NET_ADMIN (iptables, routes) and exits. It breaks
 * the "restricted" Pod Security Standard; the main containers keep nothing of it. The script must be
 * idempotent: podman may run init containers again on restart.
 */
export function netAdminInit(name: string, image: string, script: string, runVolume: string): IContainer {
  return {
    name,
    image,
    imagePullPolicy: pullPolicy(image),
    command: ['/bin/sh', '-c', script],
    securityContext: {
      ...hardened({ addCaps: ['NET_ADMIN'] }),
      runAsNonRoot: false,
      runAsUser: 0,
      runAsGroup: 0,
    },
    // iptables takes its lock under /run, which the read-only root does not let it create.
    volumeMounts: [{ name: runVolume, mountPath: '/run' }],
    resources: { limits: { cpu: '100m', memory: '32Mi' }, requests: { cpu: '10m', memory: '8Mi' } },
  };
}

/** FORWARD DROP: a pod on two networks (proxy, dns) must never route packets for the agent. */
export const NO_FORWARD_SCRIPT =
  'set -e; iptables -P FORWARD DROP; ' +
  // IPv6 may be off in the container (then there is nothing to forward); say so rather than fail.
  'ip6tables -P FORWARD DROP 2>/dev/null || echo "agentcage: ip6tables unavailable, IPv6 FORWARD not set" >&2';

/**
 * Transparent mode: NAT the agent's port 80/443 connections to the proxy. `defaultRoute` adds a route
 * where the network gives none (podman internal networks), or connect fails before NAT.
 */
export function transparentScript(proxyIP: string, defaultRoute: boolean): string {
  const rule = (dport: number, to: number) =>
    `-p tcp --dport ${dport} -j DNAT --to-destination ${proxyIP}:${to}`;
  const add = (r: string) => `iptables -t nat -C OUTPUT ${r} 2>/dev/null || iptables -t nat -A OUTPUT ${r}`;
  return [
    'set -e',
    ...(defaultRoute ? ['ip route replace default dev eth0'] : []),
    add(rule(80, PORTS.transparentHttp)),
    add(rule(443, PORTS.transparentHttps)),
  ].join('; ');
}

export function pullPolicy(image: string): 'Never' | 'IfNotPresent' {
  // Locally built images exist nowhere else: pulling would fail (or fetch someone else's).
  return image.startsWith('localhost/') ? 'Never' : 'IfNotPresent';
}

/** The agent's environment: its own, each secret's placeholder, the proxy, the CA trust variables. */
export function agentEnv(cage: Cage, placeholders: Record<string, string>, proxyUrl: string): IEnvVar[] {
  return [
    ...cage.spec.agent.env.map((e) => ({ name: e.name, value: e.value })),
    ...cage.spec.secrets.map((s) => ({ name: s.name, value: placeholders[s.name] })),
    ...['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'].map((name) => ({ name, value: proxyUrl })),
    ...['NO_PROXY', 'no_proxy'].map((name) => ({ name, value: 'localhost,127.0.0.1,::1' })),
    // Node adds NODE_EXTRA_CA_CERTS to its own roots; the others replace the system store, so they
    // get the bundle (cage CA + public roots, which passthrough domains need).
    ...CA_TRUST_VARS.map((name) => ({
      name,
      value: name === 'NODE_EXTRA_CA_CERTS' ? PATHS.agentCaFile : PATHS.agentCaBundle,
    })),
  ];
}

export interface AgentVolumes {
  volumes: IVolume[];
  mounts: IVolumeMount[];
}

/**
 * The agent's volumes: the CA ConfigMap, a writable /tmp (the root is read-only) unless the user
 * mounts one, and the user's own. `volName` maps a volume's role to its name (podman prefixes the
 * cage's name: emptyDirs are shared by name across pods there).
 */
export function agentVolumes(
  cage: Cage,
  caConfigMap: string,
  volName: (vol: string) => string,
): AgentVolumes {
  const volumes: IVolume[] = [{ name: volName('agent-ca'), configMap: { name: caConfigMap } }];
  const mounts: IVolumeMount[] = [{ name: volName('agent-ca'), mountPath: PATHS.agentCaDir, readOnly: true }];
  const user = cage.spec.agent.volumes;
  if (!user.some((v) => v.mountPath === '/tmp')) {
    volumes.push({ name: volName('agent-tmp'), emptyDir: { sizeLimit: '256Mi' } });
    mounts.push({ name: volName('agent-tmp'), mountPath: '/tmp' });
  }
  user.forEach((v, i) => {
    // "u-": the user's volumes live apart from agentcage's own (a user volume called "proxy-tmp"
    // must never become the proxy pod's /tmp, where the HAR file lives).
    const name = volName(`u-${v.name}`);
    if (volumes.some((x) => x.name === name))
      throw new RenderError(
        `spec.agent.volumes[${i}].name`,
        `"${v.name}" is a name agentcage uses for its own volumes: pick another`,
      );
    if (v.claimName) volumes.push({ name, persistentVolumeClaim: { claimName: v.claimName } });
    else if (v.hostPath) volumes.push({ name, hostPath: { path: v.hostPath, type: 'Directory' } });
    else volumes.push({ name, emptyDir: v.sizeLimit ? { sizeLimit: v.sizeLimit } : {} });
    mounts.push({ name, mountPath: v.mountPath, readOnly: v.readOnly });
  });
  return { volumes, mounts };
}

/** The agent container, hardened; the caller adds ports. */
export function agentContainer(cage: Cage, env: IEnvVar[], mounts: IVolumeMount[]): IContainer {
  const a = cage.spec.agent;
  const c: IContainer = {
    name: 'agent',
    image: a.image,
    imagePullPolicy: pullPolicy(a.image),
    env,
    resources: a.resources,
    volumeMounts: mounts,
    securityContext: {
      ...hardened({ readOnlyRoot: a.readOnlyRootFilesystem }),
      runAsUser: a.user.uid,
      runAsGroup: a.user.gid,
    },
  };
  if (a.command) c.command = a.command;
  if (a.args) c.args = a.args;
  if (a.workingDir) c.workingDir = a.workingDir;
  return c;
}

export interface AgentPodOptions {
  placeholders: Record<string, string>;
  proxyUrl: string;
  caConfigMap: string;
  volName: (vol: string) => string;
  /** The cage's dnsmasq: the agent's only resolver. */
  dnsIP: string;
  /** Publish spec.agent.ports[].hostPort on the host (podman; a Kubernetes cage never does). */
  hostPorts: boolean;
  /** Renderer-specific fields placed after dnsConfig (host aliases, restart policy). */
  extra?: Partial<IPodSpec>;
}

/**
 * The agent's pod spec as both renderers run it: its hardened container with its ports, its
 * volumes, the cage's dnsmasq as the only resolver, the runtime class. The caller adds the
 * transparent-mode init container.
 */
export function agentPodSpec(cage: Cage, o: AgentPodOptions): IPodSpec {
  const av = agentVolumes(cage, o.caConfigMap, o.volName);
  const agent = agentContainer(cage, agentEnv(cage, o.placeholders, o.proxyUrl), av.mounts);
  if (cage.spec.agent.ports.length)
    agent.ports = cage.spec.agent.ports.map((p) => ({
      containerPort: p.containerPort,
      protocol: p.protocol,
      ...(o.hostPorts && p.hostPort !== undefined ? { hostPort: p.hostPort, hostIP: p.hostIP } : {}),
    }));
  const spec: IPodSpec = {
    ...basePodSpec(cage.spec.agent.user.uid, cage.spec.agent.user.gid),
    dnsPolicy: 'None',
    dnsConfig: { nameservers: [o.dnsIP], searches: [], options: [{ name: 'ndots', value: '1' }] },
    ...o.extra,
    containers: [agent],
    volumes: av.volumes,
  };
  if (cage.spec.agent.isolation.runtimeClassName)
    spec.runtimeClassName = cage.spec.agent.isolation.runtimeClassName;
  return spec;
}
