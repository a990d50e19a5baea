// The podman controller: turns a Cage into running pods on this machine and back into nothing.
// create: validate -> render -> network (+ host rules) -> podman secrets -> play dns, proxy, agent
// (each waited for) -> record. A failure part-way removes what this run made and says what failed.
import { readFileSync } from 'node:fs';
import { egressMode, type Cage } from '../../api/cage.ts';
import { parseCageYaml } from '../../api/load.ts';
import { resolvePlaceholders } from '../../api/placeholders.ts';
import { ValidationError } from '../../api/validation.ts';
import { PORTS } from '../../render/contract.ts';
import type { PodmanContext } from '../../render/context.ts';
import { renderPodman, staticMac, type PodmanPlan, type PodmanPodPlan } from '../../render/podman.ts';
import { fingerprint, mintCa, type KeyPairPem } from '../../../proxy-image/src/tls/ca.ts';
import { CommandError, podman, podmanJson, run } from './exec.ts';
import { applyHostRules, hostRules, removeHostRules } from './hostfw.ts';
import {
  containerName,
  droppedSecrets,
  planVolumes,
  secretCreateArgs,
  secretPayloads,
  SECRET_PAYLOAD_ENV,
  secretValues,
  usedSubnets,
  type NetworkInfo,
  type Role,
} from './plan.ts';
import { CageStore, type CageRecord, type CreateOptions } from './state.ts';

export type Say = (line: string) => void;

export interface CreateRequest {
  /** The Cage YAML text and where it came from (for messages). */
  text: string;
  source: string;
  secrets: Record<string, string>;
  options?: CreateOptions;
  /** Seconds to wait for each pod to be ready. */
  readyTimeoutS?: number;
}

export class CreateError extends Error {
  constructor(
    message: string,
    public readonly cleaned: string[],
  ) {
    super(message);
    this.name = 'CreateError';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads and validates a Cage file; every problem with its field path, never a stack trace. */
export function readCage(text: string, source: string): Cage {
  const r = parseCageYaml(text);
  if (!r.ok) throw new ValidationError(r.problems, `Cage in ${source}`);
  return r.cage;
}

interface ContainerState {
  Status: string;
  Running: boolean;
  ExitCode: number;
  Pid: number;
  /** How often podman restarted it (a crash-looping container is "running" now and then). */
  RestartCount: number;
}

export class PodmanController {
  constructor(
    readonly store: CageStore = new CageStore(),
    private readonly say: Say = () => {},
  ) {}

  // ---------------------------------------------------------------- create
  async create(req: CreateRequest): Promise<CageRecord> {
    const cage = readCage(req.text, req.source);
    const name = cage.metadata.name;
    if (this.store.exists(name))
      throw new Error(
        `a cage named "${name}" exists already: \`agentcage cage update ${name} -c FILE\` or destroy it first`,
      );
    const sv = secretValues(cage, req.secrets, process.env);
    if (sv.problems.length) throw new Error(`cannot create cage ${name}:\n  ${sv.problems.join('\n  ')}`);
    const options = req.options ?? {};
    const upstreamCaPem = options.upstreamCaFile ? readFileSync(options.upstreamCaFile, 'utf8') : undefined;

    const placeholders = resolvePlaceholders(cage);
    const ca = mintCa(`agentcage ${name} CA`);
    const networks = await podmanJson<NetworkInfo[]>(['network', 'ls', '--format', 'json']);
    const plan = renderPodman(cage, {
      placeholders,
      usedSubnets: usedSubnets(networks),
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      ssrfAllowCidrs: options.allowPrivateCidrs,
      ...renderExtras(options, upstreamCaPem),
    });
    await this.checkImages(plan);

    const now = new Date().toISOString();
    const rec: CageRecord = {
      name,
      createdAt: now,
      updatedAt: now,
      network: plan.network.name,
      subnet: plan.network.subnet,
      extraNetworks: [],
      pods: plan.pods.map((p) => ({ role: p.component, name: p.name, file: `rendered/${p.file}` })),
      secrets: plan.secrets.map((s) => s.name),
      volumes: planVolumes(plan),
      placeholders,
      caFingerprint: fingerprint(ca.certPem),
      options,
    };
    // Written first: a crash part-way still leaves destroy a record of what to remove.
    this.writeFiles(rec, cage, req.text, plan, ca);
    this.store.write(rec);

    const undo: { what: string; run: () => Promise<unknown> }[] = [];
    let step = 'start';
    try {
      step = `network ${plan.network.name}`;
      if (!networks.some((n) => n.name === plan.egressNetwork.name)) {
        await podman(plan.egressNetwork.createArgs);
        this.say(`created egress network ${plan.egressNetwork.name}`);
      }
      if (networks.some((n) => n.name === plan.network.name))
        throw new Error(
          `network ${plan.network.name} exists already (a leftover?): podman network rm ${plan.network.name}`,
        );
      await podman(plan.network.createArgs);
      undo.push({
        what: `network ${plan.network.name}`,
        run: () => podman(['network', 'rm', '-f', plan.network.name]),
      });
      rec.bridge = await this.bridgeOf(plan.network.name);
      const rules = hostRules(name, rec.bridge);
      undo.push({ what: `host firewall rules on ${rec.bridge}`, run: () => removeHostRules(rules) });
      await applyHostRules(rules);
      this.store.write(rec);
      this.say(
        `created network ${plan.network.name} (${plan.network.subnet}, internal, bridge ${rec.bridge}, host rules set)`,
      );

      step = 'podman secrets';
      const payloads = secretPayloads(plan, sv.values, ca);
      for (const s of plan.secrets) {
        await podman(['secret', 'rm', s.name], { allowFail: true });
        await podman(secretCreateArgs(s.createArgs), {
          env: { [SECRET_PAYLOAD_ENV]: payloads.get(s.name)! },
        });
        undo.push({ what: `secret ${s.name}`, run: () => podman(['secret', 'rm', s.name]) });
      }
      this.say(
        `stored ${plan.secrets.length} real value(s) as podman secrets, referenced by the proxy pod only`,
      );

      for (const pod of plan.pods) {
        step = `${pod.component} pod ${pod.name}`;
        undo.push({
          what: `pod ${pod.name}`,
          run: async () => {
            if (!(await this.removePod(pod.name, rec.volumes)))
              throw new Error(`pod ${pod.name} is still there`);
          },
        });
        await this.play(rec, pod, req.readyTimeoutS ?? 60);
      }
    } catch (err) {
      const cleaned: string[] = [];
      for (const u of undo.reverse()) {
        try {
          await u.run();
          cleaned.push(u.what);
        } catch {
          cleaned.push(`${u.what} (could not remove: run agentcage cage destroy ${name})`);
        }
      }
      await this.removeVolumes(rec.volumes);
      this.store.remove(name);
      throw new CreateError(
        `creating cage ${name} failed at ${step}: ${(err as Error).message}\n` +
          (cleaned.length ? `cleaned up: ${cleaned.join(', ')}` : 'nothing had been created'),
        cleaned,
      );
    }
    return rec;
  }

  private writeFiles(rec: CageRecord, cage: Cage, text: string, plan: PodmanPlan, ca?: KeyPairPem): void {
    const name = rec.name;
    this.store.ensureDir(name);
    this.store.writeFile(name, 'cage.yaml', text);
    if (ca) {
      this.store.writeFile(name, 'ca/ca.crt', ca.certPem, 0o644);
      this.store.writeFile(name, 'ca/ca.key', ca.keyPem, 0o600);
    }
    for (const p of plan.pods) this.store.writeFile(name, `rendered/${p.file}`, p.yaml);
    this.store.writeFile(name, 'rendered/plan.json', JSON.stringify(planSummary(plan, cage), null, 2) + '\n');
  }

  private async checkImages(plan: PodmanPlan): Promise<void> {
    const missing: string[] = [];
    const seen = new Set<string>();
    for (const p of plan.pods)
      for (const o of p.objects) {
        if (o.kind !== 'Pod') continue;
        for (const c of [...(o.spec?.initContainers ?? []), ...(o.spec?.containers ?? [])]) {
          if (!c.image || seen.has(c.image) || !c.image.startsWith('localhost/')) continue;
          seen.add(c.image);
          if ((await podman(['image', 'exists', c.image], { allowFail: true })).code !== 0)
            missing.push(c.image);
        }
      }
    if (missing.length)
      throw new Error(
        `image(s) missing on this machine: ${missing.join(', ')}: build them with \`make images\``,
      );
  }

  private async bridgeOf(network: string): Promise<string> {
    const [n] = await podmanJson<NetworkInfo[]>(['network', 'inspect', network]);
    if (!n?.network_interface) throw new Error(`podman network inspect ${network} names no bridge interface`);
    return n.network_interface;
  }

  /** Plays one pod's YAML and waits until its main container is ready. */
  private async play(rec: CageRecord, pod: PodmanPodPlan, timeoutS: number): Promise<void> {
    const t0 = Date.now();
    this.say(`playing ${pod.component} pod ${pod.name} ...`);
    await podman([...pod.playArgs, this.store.path(rec.name, `rendered/${pod.file}`)]);
    for (const net of pod.networks) if (net.name !== rec.network) await pinBridgeMac(net.name);
    await this.waitReady(rec, pod.component, pod.name, timeoutS);
    this.say(`  ${pod.component} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  async containerState(ctr: string): Promise<ContainerState | undefined> {
    const format = '{"state":{{json .State}},"restarts":{{.RestartCount}}}';
    const r = await podman(['inspect', '--type', 'container', '--format', format, ctr], { allowFail: true });
    if (r.code !== 0) return undefined;
    const j = JSON.parse(r.stdout) as { state: ContainerState; restarts: number };
    return { ...j.state, RestartCount: j.restarts };
  }

  private async waitReady(rec: CageRecord, role: Role, pod: string, timeoutS: number): Promise<void> {
    const ctr = containerName(pod, role);
    const deadline = Date.now() + timeoutS * 1000;
    let last = 'not started';
    let runningSince = 0;
    const crashed = async (st: ContainerState) =>
      new Error(
        (st.RestartCount
          ? `${ctr} kept exiting (restarted ${st.RestartCount} times)`
          : `${ctr} exited with code ${st.ExitCode}`) + `: ${await this.tail(ctr)}`,
      );
    while (Date.now() < deadline) {
      const st = await this.containerState(ctr);
      if (st && (st.RestartCount > 0 || (!st.Running && ['exited', 'stopped'].includes(st.Status)))) {
        if (role === 'agent' && !st.Running && st.ExitCode === 0 && st.RestartCount === 0) return; // a one-shot agent, done
        throw await crashed(st);
      }
      if (st?.Running) {
        last = 'running';
        if (
          role === 'dns' &&
          /started, version/.test((await podman(['logs', ctr], { allowFail: true })).stderr)
        )
          return;
        if (role === 'proxy' && (await this.proxyReady(rec))) return;
        // The agent has no readiness signal: running for a second without a restart will do.
        if (role === 'agent') {
          runningSince ||= Date.now();
          if (Date.now() - runningSince >= 1000) return;
        }
      }
      await sleep(200);
    }
    throw new Error(`${ctr} not ready after ${timeoutS} s (${last}): ${await this.tail(ctr)}`);
  }

  private async tail(ctr: string): Promise<string> {
    const r = await podman(['logs', '--tail', '5', ctr], { allowFail: true });
    return (r.stderr + r.stdout).trim().split('\n').slice(-5).join(' | ') || '(no output)';
  }

  /** The proxy's /readyz on its egress-side address (reachable from the host, not from the agent). */
  async proxyAddress(rec: CageRecord): Promise<string | undefined> {
    const ctr = containerName(rec.pods.find((p) => p.role === 'proxy')!.name, 'proxy');
    const r = await podman(['inspect', '--format', '{{json .NetworkSettings.Networks}}', ctr], {
      allowFail: true,
    });
    if (r.code !== 0) return undefined;
    const nets = JSON.parse(r.stdout) as Record<string, { IPAddress: string }>;
    for (const [net, v] of Object.entries(nets)) if (net !== rec.network && v.IPAddress) return v.IPAddress;
    return undefined;
  }

  private async proxyReady(rec: CageRecord): Promise<boolean> {
    const ip = await this.proxyAddress(rec);
    if (!ip) return false;
    try {
      const res = await fetch(`http://${ip}:${PORTS.metrics}/readyz`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200;
    } catch {
      return false;
    }
  }

  // ---------------------------------------------------------------- update
  /**
   * Re-renders and replaces the pods whose YAML changed. Everything that can fail on a bad file
   * (parse, validation, name, missing secret values, render) happens before anything is touched.
   */
  async update(name: string, text: string, source: string, given: Record<string, string>): Promise<string[]> {
    const rec = this.store.read(name);
    const cage = readCage(text, source);
    if (cage.metadata.name !== name)
      throw new Error(
        `${source} is cage "${cage.metadata.name}", not "${name}": metadata.name cannot change (create a new cage instead)`,
      );
    const oldCage = readCage(this.store.readFile(name, 'cage.yaml'), 'the stored cage.yaml');
    const keep = new Set(oldCage.spec.secrets.map((s) => s.name));
    const sv = secretValues(cage, given, process.env, keep);
    if (sv.problems.length) throw new Error(`cage ${name} left unchanged:\n  ${sv.problems.join('\n  ')}`);
    const ca: KeyPairPem = {
      certPem: this.store.readFile(name, 'ca/ca.crt'),
      keyPem: this.store.readFile(name, 'ca/ca.key'),
    };
    const upstreamCaPem = rec.options.upstreamCaFile
      ? readFileSync(rec.options.upstreamCaFile, 'utf8')
      : undefined;
    const placeholders = resolvePlaceholders(cage, rec.placeholders);
    let plan: PodmanPlan;
    try {
      plan = renderPodman(cage, {
        placeholders,
        subnet: rec.subnet,
        caCertPem: ca.certPem,
        caKeyPem: ca.keyPem,
        ssrfAllowCidrs: rec.options.allowPrivateCidrs,
        ...renderExtras(rec.options, upstreamCaPem),
      });
    } catch (err) {
      throw new Error(`cage ${name} left unchanged: ${(err as Error).message}`);
    }
    await this.checkImages(plan);
    // Host rules do not survive a reboot: an update puts them back (cage verify reports them missing).
    if (rec.bridge) await applyHostRules(hostRules(name, rec.bridge));

    const changed: string[] = [];
    const payloads = secretPayloads(plan, sv.values, ca);
    const secretsChanged = plan.secrets.some((s) => s.role === 'secret' && payloads.has(s.name));
    for (const s of plan.secrets) {
      if (s.role === 'ca' || !payloads.has(s.name)) continue;
      await podman(['secret', 'rm', s.name], { allowFail: true });
      await podman(secretCreateArgs(s.createArgs), { env: { [SECRET_PAYLOAD_ENV]: payloads.get(s.name)! } });
      changed.push(`secret ${s.name}`);
    }
    for (const pod of plan.pods) {
      const file = `rendered/${pod.file}`;
      let before = '';
      try {
        before = this.store.readFile(name, file);
      } catch {
        // a pod this cage did not have
      }
      const proxyNeedsSecrets = pod.component === 'proxy' && secretsChanged;
      if (before === pod.yaml && !proxyNeedsSecrets) continue;
      this.store.writeFile(name, file, pod.yaml);
      try {
        await this.play(rec, pod, 60);
      } catch (err) {
        // Put the previous pod back: a cage that half-updated is worse than one that did not.
        if (before) {
          this.store.writeFile(name, file, before);
          await podman([...pod.playArgs, this.store.path(name, file)], { allowFail: true });
        }
        throw new Error(`updating ${pod.name} failed, previous pod restored: ${(err as Error).message}`);
      }
      changed.push(`pod ${pod.name}`);
    }
    for (const s of droppedSecrets(rec.secrets, plan)) {
      await podman(['secret', 'rm', s], { allowFail: true });
      changed.push(`removed secret ${s}`);
    }
    this.store.writeFile(name, 'cage.yaml', text);
    this.store.writeFile(name, 'rendered/plan.json', JSON.stringify(planSummary(plan, cage), null, 2) + '\n');
    rec.updatedAt = new Date().toISOString();
    rec.secrets = plan.secrets.map((s) => s.name);
    rec.volumes = [...new Set([...rec.volumes, ...planVolumes(plan)])];
    rec.placeholders = placeholders;
    this.store.write(rec);
    return changed;
  }

  // ---------------------------------------------------------------- destroy
  /** Removes pods, volumes, secrets, host rules, the network and the state; says what it removed. */
  async destroy(name: string): Promise<string[]> {
    const rec = this.store.read(name);
    const removed: string[] = [];
    // In parallel: each pod gets its stop grace period, and they need not wait for one another.
    const gone = await Promise.all(rec.pods.map((p) => this.removePod(p.name, [])));
    rec.pods.forEach((p, i) => gone[i] && removed.push(`pod ${p.name}`));
    const vols = await this.removeVolumes(rec.volumes);
    if (vols.length) removed.push(`${vols.length} volume(s)`);
    for (const s of rec.secrets)
      if ((await podman(['secret', 'rm', s], { allowFail: true })).code === 0) removed.push(`secret ${s}`);
    if (rec.bridge) {
      await removeHostRules(hostRules(name, rec.bridge));
      removed.push(`host rules on ${rec.bridge}`);
    }
    if ((await podman(['network', 'rm', '-f', rec.network], { allowFail: true })).code === 0)
      removed.push(`network ${rec.network}`);
    this.store.remove(name);
    // The shared egress network goes with the last cage (podman refuses while anything uses it).
    if (this.store.names().length === 0) {
      const egress = await podmanJson<NetworkInfo[]>(['network', 'ls', '--format', 'json']);
      for (const n of egress)
        if (
          n.labels?.['agentcage.io/role'] === 'egress' &&
          (await podman(['network', 'rm', n.name], { allowFail: true })).code === 0
        )
          removed.push(`egress network ${n.name}`);
    }
    return removed;
  }

  private async removePod(pod: string, volumes: string[]): Promise<boolean> {
    // stop, then rm: measured here, `pod rm -f -t 2` alone takes seconds longer than the two.
    await podman(['pod', 'stop', '-t', '2', pod], { allowFail: true });
    let gone = false;
    // A crash-looping container can be restarting while rm runs, and rm then fails: retry and
    // check, so a cleanup never reports a pod removed that is still there.
    for (let attempt = 0; attempt < 4 && !gone; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 500 * attempt));
      await podman(['pod', 'rm', '-f', '-t', '0', pod], { allowFail: true });
      gone = (await podman(['pod', 'exists', pod], { allowFail: true })).code !== 0;
    }
    if (volumes.length) await this.removeVolumes(volumes);
    return gone;
  }

  private async removeVolumes(volumes: string[]): Promise<string[]> {
    // One listing and one rm: podman takes a lock per call, and most cages have a dozen volumes.
    const ls = await podman(['volume', 'ls', '--format', '{{.Name}}'], { allowFail: true });
    const present = new Set(ls.stdout.split('\n').filter(Boolean));
    const doomed = volumes.filter((v) => present.has(v));
    if (doomed.length === 0) return [];
    const r = await podman(['volume', 'rm', '-f', ...doomed], { allowFail: true });
    if (r.code === 0) return doomed;
    // One refused (still in use?): remove the rest one by one, so the others still go.
    const gone: string[] = [];
    for (const v of doomed)
      if ((await podman(['volume', 'rm', '-f', v], { allowFail: true })).code === 0) gone.push(v);
    return gone;
  }

  // ---------------------------------------------------------------- reading
  async podStates(
    rec: CageRecord,
  ): Promise<{ role: Role; pod: string; container: string; status: string }[]> {
    const out = [];
    for (const p of rec.pods) {
      const ctr = containerName(p.name, p.role);
      const st = await this.containerState(ctr);
      out.push({ role: p.role, pod: p.name, container: ctr, status: st ? st.Status : 'missing' });
    }
    return out;
  }

  container(rec: CageRecord, role: Role): string {
    const p = rec.pods.find((x) => x.role === role);
    if (!p) throw new Error(`cage ${rec.name} has no ${role} pod`);
    return containerName(p.name, role);
  }

  cage(name: string): Cage {
    this.store.read(name); // a missing cage gets its own message, not a missing file
    return readCage(this.store.readFile(name, 'cage.yaml'), `${name}/cage.yaml`);
  }
}

/**
 * Fixes the MAC of a shared network's bridge. A Linux bridge takes the lowest MAC of its ports
 * unless one is set: when another cage's pod left the egress network, the bridge's MAC changed
 * and every other proxy's ARP entry for its gateway went stale (upstream timeouts for ~20 s).
 */
export async function pinBridgeMac(network: string): Promise<void> {
  const [n] = await podmanJson<NetworkInfo[]>(['network', 'inspect', network]);
  const bridge = n?.network_interface;
  const gateway = n?.subnets?.find((x) => x.gateway && !x.gateway.includes(':'))?.gateway;
  if (!bridge || !gateway) return;
  const mac = staticMac(gateway);
  const r = await run('ip', ['-o', 'link', 'show', 'dev', bridge], { allowFail: true });
  if (r.code !== 0 || r.stdout.includes(`link/ether ${mac} `)) return;
  await run('ip', ['link', 'set', 'dev', bridge, 'address', mac]);
}

/** Options that shape the render beyond the Cage (a local stand-in upstream). */
function renderExtras(options: CreateOptions, upstreamCaPem: string | undefined): Partial<PodmanContext> {
  const extra: Partial<PodmanContext> = {};
  if (upstreamCaPem) extra.upstreamCaPem = upstreamCaPem;
  if (options.proxyHosts && Object.keys(options.proxyHosts).length)
    extra.proxyHostAliases = Object.entries(options.proxyHosts).map(([host, ip]) => ({
      ip,
      hostnames: [host],
    }));
  return extra;
}

/** What `cage show` prints about the network, without the YAML. */
function planSummary(plan: PodmanPlan, cage: Cage) {
  return {
    mode: egressMode(cage.spec),
    network: plan.network.name,
    subnet: plan.network.subnet,
    addresses: plan.addresses,
    egressNetwork: plan.egressNetwork.name,
    pods: plan.pods.map((p) => ({ component: p.component, name: p.name, networks: p.networks })),
    secrets: plan.secrets.map((s) => ({ name: s.name, role: s.role, secret: s.secret })),
  };
}

export { CommandError };
