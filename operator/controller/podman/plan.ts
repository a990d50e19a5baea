// Pure planning for the podman controller: which values go into which podman secret, which
// volumes a played pod leaves behind, container names, what `podman network ls` says is in use.
// No I/O here: controller.ts runs what these functions decide.
import type { Cage } from '../../api/cage.ts';
import { PODMAN_SECRET_KEY } from '../../render/contract.ts';
import { podmanSecretData, type PodmanPlan, type PodmanPodPlan } from '../../render/podman.ts';
import type { KeyPairPem } from '../../../proxy-image/src/tls/ca.ts';

export type Role = 'dns' | 'proxy' | 'agent';

/** The main container of each pod (kube play names containers `<pod>-<container>`). */
export const MAIN_CONTAINER: Record<Role, string> = { dns: 'dnsmasq', proxy: 'proxy', agent: 'agent' };

export function containerName(pod: string, role: Role): string {
  return `${pod}-${MAIN_CONTAINER[role]}`;
}

/** `-s KEY=VALUE` arguments -> map; the value may contain "=". */
export function parseSecretArgs(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0)
      throw new Error(`-s ${a.split('=')[0]}...: give -s NAME=VALUE (e.g. -s ANTHROPIC_API_KEY=sk-...)`);
    out[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return out;
}

export interface SecretValues {
  values: Record<string, string>;
  problems: string[];
}

/**
 * Where each Cage secret's real value comes from locally: `-s NAME=VALUE` first, then
 * valueFrom.env (the CLI's own environment). `keep` names secrets whose podman secret already
 * exists (an update) and needs no value again. Every gap is one problem line saying what to pass.
 */
export function secretValues(
  cage: Cage,
  given: Record<string, string>,
  env: Record<string, string | undefined>,
  keep: ReadonlySet<string> = new Set(),
): SecretValues {
  const values: Record<string, string> = {};
  const problems: string[] = [];
  const declared = new Set(cage.spec.secrets.map((s) => s.name));
  for (const k of Object.keys(given))
    if (!declared.has(k))
      problems.push(
        `-s ${k}: the cage declares no secret "${k}" (declared: ${[...declared].join(', ') || 'none'})`,
      );
  cage.spec.secrets.forEach((s, i) => {
    if (given[s.name] !== undefined) values[s.name] = given[s.name];
    else if (s.valueFrom?.env !== undefined && env[s.valueFrom.env] !== undefined)
      values[s.name] = env[s.valueFrom.env]!;
    else if (!keep.has(s.name)) {
      const from = s.valueFrom?.env
        ? ` or set the environment variable ${s.valueFrom.env}`
        : s.valueFrom?.secretKeyRef
          ? ' (secretKeyRef is read in Kubernetes only)'
          : '';
      problems.push(`spec.secrets[${i}] ${s.name}: no value: pass -s ${s.name}=VALUE${from}`);
    }
  });
  for (const [k, v] of Object.entries(values)) if (v === '') problems.push(`-s ${k}: the value is empty`);
  return { values, problems };
}

/** podman secret name -> payload (stdin of `podman secret create`), for the secrets to (re)create. */
export function secretPayloads(
  plan: PodmanPlan,
  values: Record<string, string>,
  ca: KeyPairPem,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of plan.secrets) {
    if (s.role === 'ca') out.set(s.name, podmanSecretData({ 'tls.crt': ca.certPem, 'tls.key': ca.keyPem }));
    else if (s.secret !== undefined && values[s.secret] !== undefined)
      out.set(s.name, podmanSecretData({ [PODMAN_SECRET_KEY]: values[s.secret] }));
  }
  return out;
}

/**
 * Named volumes `podman kube play` creates for a pod and `kube down` leaves behind: one per
 * configMap (named after the ConfigMap) and emptyDir volume (named after the volume); the renderer
 * prefixes both with the cage's name.
 */
export function podVolumes(pod: PodmanPodPlan): string[] {
  const out: string[] = [];
  for (const o of pod.objects) {
    if (o.kind !== 'Pod') continue;
    for (const v of o.spec?.volumes ?? []) {
      // A configMap volume is created under the ConfigMap's name, an emptyDir under its own.
      if (v.configMap?.name) out.push(v.configMap.name);
      if (v.configMap || v.emptyDir || v.secret) out.push(v.name);
    }
  }
  return out;
}

export function planVolumes(plan: PodmanPlan): string[] {
  return [...new Set(plan.pods.flatMap(podVolumes))];
}

export interface NetworkInfo {
  name: string;
  network_interface?: string;
  subnets?: { subnet: string; gateway?: string }[];
  labels?: Record<string, string>;
  internal?: boolean;
}

/** Every subnet on this host's podman networks (a new cage must collide with none). */
export function usedSubnets(networks: NetworkInfo[]): string[] {
  return networks.flatMap((n) => (n.subnets ?? []).map((s) => s.subnet));
}

/** Secrets a re-render dropped (an update removed them from the spec): to delete after the swap. */
export function droppedSecrets(before: string[], plan: PodmanPlan): string[] {
  const now = new Set(plan.secrets.map((s) => s.name));
  return before.filter((s) => !now.has(s));
}

/** The environment variable `podman secret create --env` reads the payload from. */
export const SECRET_PAYLOAD_ENV = 'AGENTCAGE_SECRET_PAYLOAD';

/**
 * The render's `podman secret create ... NAME -` as `... --env NAME VAR`: podman reads `-` only
 * from a real pipe (node gives a child a socket), and a value in argv would show in `ps`.
 */
export function secretCreateArgs(createArgs: string[]): string[] {
  const args = createArgs[createArgs.length - 1] === '-' ? createArgs.slice(0, -1) : [...createArgs];
  const at = args.indexOf('create');
  return [...args.slice(0, at + 1), '--env', ...args.slice(at + 1), SECRET_PAYLOAD_ENV];
}
