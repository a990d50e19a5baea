import assert from 'node:assert/strict';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import { parsePolicy } from '../../operator/api/policy.ts';
import {
  AWAITING_IP,
  CA_TRUST_VARS,
  LABEL,
  labels,
  RenderError,
  renderKubernetes,
  type KubeObject,
  type KubernetesContext,
} from '../../operator/render/index.ts';
import {
  assertValidKubeObject,
  cage,
  deepFreeze,
  exampleCage,
  fullCage,
  npAllows,
  PH,
  type Endpoint,
} from './render-helpers.ts';

const CTX: KubernetesContext = {
  uid: '6f1c2a4e-0000-4000-8000-000000000001',
  namespace: 'agents',
  dnsServiceIP: '10.96.12.34',
  proxyServiceIP: '10.96.12.35',
  placeholders: { ANTHROPIC_API_KEY: PH(1) },
  caCertPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
};

function find<T extends KubeObject>(objs: KubeObject[], kind: T['kind'], name: string): T {
  const o = objs.find((x) => x.kind === kind && x.metadata?.name === name);
  assert.ok(o, `no ${kind} ${name} in ${objs.map((x) => `${x.kind}/${x.metadata?.name}`).join(', ')}`);
  return o as T;
}

function podSpecs(objs: KubeObject[]): [string, IPodSpec][] {
  return objs.flatMap((o): [string, IPodSpec][] => {
    if (o.kind === 'Pod') return [[o.metadata!.name!, o.spec!]];
    if (o.kind === 'Deployment') return [[o.metadata!.name!, o.spec!.template.spec!]];
    return [];
  });
}

const samples = () =>
  [
    ['examples/basic.yaml', exampleCage('basic.yaml')],
    ['full (transparent)', fullCage()],
    ['blocklist', cage({ agent: { image: 'busybox' }, egress: { block: ['evil.example'] } }, 'bl')],
    ['empty egress', cage({ agent: { image: 'busybox' } }, 'empty')],
  ] as const;

describe('renderKubernetes', () => {
  for (const [what, c] of samples()) {
    it(`${what}: every object validates against the upstream Kubernetes schemas, with no unknown field`, () => {
      const objs = renderKubernetes(c, CTX);
      assert.ok(objs.length >= 11);
      for (const o of objs) assertValidKubeObject(o);
    });

    it(`${what}: every object carries the owner reference and the app.kubernetes.io labels`, () => {
      for (const o of renderKubernetes(c, CTX)) {
        assert.deepEqual(o.metadata!.ownerReferences, [
          {
            apiVersion: 'agentcage.io/v1alpha1',
            kind: 'Cage',
            name: c.metadata.name,
            uid: CTX.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ]);
        const l = o.metadata!.labels!;
        assert.equal(l['app.kubernetes.io/name'], 'agentcage');
        assert.equal(l['app.kubernetes.io/instance'], c.metadata.name);
        assert.match(l['app.kubernetes.io/component'], /^(agent|proxy|dns)$/);
        assert.equal(l['app.kubernetes.io/part-of'], 'agentcage');
        assert.equal(l['app.kubernetes.io/managed-by'], 'agentcage-operator');
        // names.ts spells LABEL's keys out (speed): they must stay LABEL's.
        assert.deepEqual(Object.keys(l).sort(), Object.values(LABEL).sort());
        assert.equal(o.metadata!.namespace, 'agents');
      }
    });

    it(`${what}: every pod is hardened`, () => {
      for (const [name, spec] of podSpecs(renderKubernetes(c, CTX))) {
        assert.equal(spec.automountServiceAccountToken, false, name);
        assert.equal(spec.securityContext?.runAsNonRoot, true, name);
        assert.equal(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', name);
        for (const ctr of spec.containers) {
          const sc = ctr.securityContext!;
          assert.equal(sc.runAsNonRoot, true, `${name}/${ctr.name}`);
          assert.equal(sc.readOnlyRootFilesystem, true, `${name}/${ctr.name}`);
          assert.equal(sc.allowPrivilegeEscalation, false, `${name}/${ctr.name}`);
          assert.deepEqual(sc.capabilities, { drop: ['ALL'] }, `${name}/${ctr.name}`);
          assert.equal(sc.seccompProfile?.type, 'RuntimeDefault');
          assert.ok(ctr.resources?.limits?.cpu && ctr.resources.limits.memory, `${name}/${ctr.name} limits`);
        }
        for (const init of spec.initContainers ?? []) {
          // Only transparent mode has one: root with NET_ADMIN and nothing else, no escalation.
          assert.equal(c.spec.proxy.mode, 'transparent');
          assert.deepEqual(init.securityContext?.capabilities, { drop: ['ALL'], add: ['NET_ADMIN'] });
          assert.equal(init.securityContext?.allowPrivilegeEscalation, false);
          assert.ok(init.resources?.limits?.memory);
        }
      }
    });
  }

  it('the agent NetworkPolicy lets the agent reach only the proxy and DNS, and nothing reach it', () => {
    const c = exampleCage('basic.yaml');
    const objs = renderKubernetes(c, CTX);
    const nps = objs.filter((o): o is INetworkPolicy => o.kind === 'NetworkPolicy');
    const agentNp = find<INetworkPolicy>(objs, 'NetworkPolicy', 'basic-agent');
    assert.deepEqual(agentNp.spec!.policyTypes, ['Ingress', 'Egress']);
    assert.equal(agentNp.spec!.ingress, undefined, 'no ingress rule: nothing may connect to the agent');
    assert.equal(agentNp.spec!.egress!.length, 2);

    const ns = 'agents';
    const agent = labels(c, 'agent');
    const at = (component: 'agent' | 'proxy' | 'dns'): Endpoint => ({
      pod: labels(c, component),
      namespace: ns,
    });
    const egress = (to: Endpoint, port: number, proto: 'TCP' | 'UDP' = 'TCP') =>
      npAllows(nps, 'Egress', agent, ns, to, port, proto);
    assert.equal(egress(at('proxy'), 3128), true, 'agent -> proxy:3128');
    assert.equal(egress(at('dns'), 5353, 'UDP'), true, 'agent -> dns:5353/udp');
    assert.equal(egress(at('dns'), 5353, 'TCP'), true, 'agent -> dns:5353/tcp');
    // The negative twins: anything else.
    assert.equal(egress(at('proxy'), 9090), false, 'agent -> proxy metrics');
    assert.equal(egress(at('dns'), 53, 'UDP'), false, 'agent -> dns on another port');
    assert.equal(egress({ ip: '1.1.1.1' }, 443), false, 'agent -> internet');
    assert.equal(egress({ ip: '169.254.169.254' }, 80), false, 'agent -> metadata');
    assert.equal(egress({ pod: { app: 'db' }, namespace: ns }, 5432), false, 'agent -> another pod');
    const otherCage = {
      pod: { ...labels(c, 'proxy'), 'app.kubernetes.io/instance': 'other' },
      namespace: ns,
    };
    assert.equal(egress(otherCage, 3128), false, "agent -> another cage's proxy");
    // Ingress to the agent from anyone, including its own proxy.
    assert.equal(npAllows(nps, 'Ingress', agent, ns, at('proxy'), 8080), false);
    assert.equal(npAllows(nps, 'Ingress', agent, ns, { ip: '10.0.0.1' }, 8080), false);
  });

  it('the proxy NetworkPolicy: internet on the allowed ports, never private, link-local or metadata', () => {
    const c = fullCage();
    const objs = renderKubernetes(c, CTX);
    const nps = objs.filter((o): o is INetworkPolicy => o.kind === 'NetworkPolicy');
    const proxy = labels(c, 'proxy');
    const ns = 'agents';
    const egress = (ip: string, port: number) => npAllows(nps, 'Egress', proxy, ns, { ip }, port);
    assert.equal(egress('104.18.1.1', 443), true, 'public address on an allowed port');
    assert.equal(egress('104.18.1.1', 80), false, 'port 80 is not in this cage’s egress.ports');
    for (const ip of [
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '100.64.0.1',
      '169.254.169.254',
      '127.0.0.1',
    ])
      assert.equal(egress(ip, 443), false, ip);
    const kubeDns: Endpoint = {
      pod: { 'k8s-app': 'kube-dns' },
      namespace: 'kube-system',
      nsLabels: { 'kubernetes.io/metadata.name': 'kube-system' },
    };
    assert.equal(npAllows(nps, 'Egress', proxy, ns, kubeDns, 53, 'UDP'), true, 'proxy -> cluster DNS');
    const ingress = (from: Endpoint, port: number) => npAllows(nps, 'Ingress', proxy, ns, from, port);
    assert.equal(ingress({ pod: labels(c, 'agent'), namespace: ns }, 3128), true);
    assert.equal(ingress({ pod: labels(c, 'agent'), namespace: ns }, 8443), true, 'transparent https');
    assert.equal(ingress({ pod: { app: 'x' }, namespace: ns }, 3128), false, 'another pod');
    const scraper: Endpoint = {
      pod: { app: 'prometheus' },
      namespace: 'monitoring',
      nsLabels: { 'kubernetes.io/metadata.name': 'monitoring' },
    };
    assert.equal(ingress(scraper, 9090), true, 'metrics scrape');
    assert.equal(ingress(scraper, 3128), false, 'the scraper may not use the proxy');
  });

  it('the DNS NetworkPolicy: upstream resolvers only, on their ports; queries from the agent only', () => {
    const c = fullCage();
    const objs = renderKubernetes(c, CTX);
    const nps = objs.filter((o): o is INetworkPolicy => o.kind === 'NetworkPolicy');
    const dns = labels(c, 'dns');
    const ns = 'agents';
    assert.equal(npAllows(nps, 'Egress', dns, ns, { ip: '1.1.1.1' }, 53, 'UDP'), true);
    assert.equal(npAllows(nps, 'Egress', dns, ns, { ip: '2606:4700:4700::1111' }, 53, 'TCP'), true);
    assert.equal(
      npAllows(nps, 'Egress', dns, ns, { ip: '10.0.0.53' }, 5353, 'UDP'),
      true,
      'IP#port upstream',
    );
    assert.equal(npAllows(nps, 'Egress', dns, ns, { ip: '10.0.0.53' }, 53, 'UDP'), false);
    assert.equal(npAllows(nps, 'Egress', dns, ns, { ip: '8.8.8.8' }, 53, 'UDP'), false, 'not an upstream');
    assert.equal(npAllows(nps, 'Egress', dns, ns, { ip: '1.1.1.1' }, 443), false);
    assert.equal(
      npAllows(nps, 'Ingress', dns, ns, { pod: labels(c, 'agent'), namespace: ns }, 5353, 'UDP'),
      true,
    );
    assert.equal(npAllows(nps, 'Ingress', dns, ns, { pod: { app: 'x' }, namespace: ns }, 5353, 'UDP'), false);
  });

  it('agent pod: cage DNS only, proxy and CA variables, placeholders (never real values), runtimeClass', () => {
    const c = fullCage();
    const objs = renderKubernetes(c, CTX);
    const pod = find<IPod>(objs, 'Pod', 'full-agent');
    const spec = pod.spec!;
    assert.equal(spec.dnsPolicy, 'None');
    assert.deepEqual(spec.dnsConfig!.nameservers, ['10.96.12.34']);
    assert.equal(spec.runtimeClassName, 'gvisor');
    const proxyHost = 'full-proxy.agents.svc.cluster.local';
    assert.deepEqual(spec.hostAliases, [{ ip: '10.96.12.35', hostnames: [proxyHost] }]);
    const env = Object.fromEntries(spec.containers[0].env!.map((e) => [e.name, e.value]));
    for (const v of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'])
      assert.equal(env[v], `http://${proxyHost}:3128`);
    assert.ok(env.NO_PROXY);
    for (const v of CA_TRUST_VARS) assert.match(env[v] ?? '', /^\/etc\/agentcage\/ca\/(ca|bundle)\.crt$/, v);
    assert.equal(env.ANTHROPIC_API_KEY, PH(1));
    assert.equal(env.GITHUB_TOKEN, PH(2));
    assert.equal(env.LOG_LEVEL, 'debug');
    // Nothing in the agent pod refers to a Secret.
    assert.doesNotMatch(JSON.stringify(pod), /secretKeyRef|secretName|"secret"|projected/);
    // The CA reaches the agent through the ConfigMap it mounts.
    const cm = find<IConfigMap>(objs, 'ConfigMap', 'full-ca');
    assert.equal(cm.data!['ca.crt'], CTX.caCertPem);
    assert.ok(spec.volumes!.some((v) => v.configMap?.name === 'full-ca'));
    // User volumes and a writable /tmp.
    const mounts = Object.fromEntries(spec.containers[0].volumeMounts!.map((m) => [m.mountPath, m.name]));
    assert.ok(mounts['/tmp'] && mounts['/work'] && mounts['/cache']);
    assert.deepEqual(spec.volumes!.find((v) => v.name === 'u-cache')!.persistentVolumeClaim, {
      claimName: 'agent-cache',
    });
  });

  it('agent pod without observed Service IPs points at AWAITING_IP, which routes nowhere', () => {
    const pod = find<IPod>(renderKubernetes(exampleCage('basic.yaml'), {}), 'Pod', 'basic-agent');
    assert.deepEqual(pod.spec!.dnsConfig!.nameservers, [AWAITING_IP]);
    assert.equal(pod.spec!.hostAliases![0].ip, AWAITING_IP);
    assert.equal(pod.metadata!.ownerReferences, undefined, 'no uid known: no owner reference');
    assert.equal(pod.spec!.runtimeClassName, undefined);
    assert.equal(pod.spec!.initContainers, undefined, 'explicit mode: no NET_ADMIN init container');
  });

  it('proxy: Deployment mounts policy, CA Secret and each secret value as a file; Services map the ports', () => {
    const c = fullCage();
    const objs = renderKubernetes(c, CTX);
    const dep = find<IDeployment>(objs, 'Deployment', 'full-proxy');
    const spec = dep.spec!.template.spec!;
    assert.deepEqual(
      dep.spec!.selector.matchLabels,
      dep.spec!.template.metadata!.labels && {
        'app.kubernetes.io/name': 'agentcage',
        'app.kubernetes.io/instance': 'full',
        'app.kubernetes.io/component': 'proxy',
      },
    );
    const vols = Object.fromEntries(spec.volumes!.map((v) => [v.name, v]));
    assert.equal(vols.ca.secret!.secretName, 'full-proxy-ca');
    assert.deepEqual(vols.ca.secret!.items, [
      { key: 'tls.crt', path: 'ca.crt' },
      { key: 'tls.key', path: 'ca.key' },
    ]);
    const args = (spec.containers[0] as IContainer).args!;
    assert.equal(args[args.indexOf('--ca-dir') + 1], '/run/agentcage/ca');
    assert.equal(args[args.indexOf('--policy') + 1], '/etc/agentcage/policy/policy.json');
    assert.equal(args[args.indexOf('--audit') + 1], '-', 'audit on stdout: kubectl logs carries it');
    assert.equal(vols.policy.configMap!.name, 'full-proxy-policy');
    assert.deepEqual(
      vols.secrets.projected!.sources!.map((s) => s.secret),
      [
        { name: 'llm-keys', items: [{ key: 'anthropic', path: 'ANTHROPIC_API_KEY' }] },
        { name: 'full-secrets', items: [{ key: 'GITHUB_TOKEN', path: 'GITHUB_TOKEN' }] },
      ],
    );
    const ctr = spec.containers[0] as IContainer;
    const mounts = Object.fromEntries(ctr.volumeMounts!.map((m) => [m.name, m.mountPath]));
    assert.equal(mounts.secrets, '/run/agentcage/secrets');
    assert.equal(mounts.policy, '/etc/agentcage/policy');
    assert.equal(mounts.ca, '/run/agentcage/ca');
    // The policy the proxy reads parses, and reads each value from the mounted file.
    const policy = parsePolicy(
      JSON.parse(find<IConfigMap>(objs, 'ConfigMap', 'full-proxy-policy').data!['policy.json']),
    );
    assert.deepEqual(
      policy.secrets.map((s) => [s.name, s.valueFrom.file]),
      [
        ['ANTHROPIC_API_KEY', '/run/agentcage/secrets/ANTHROPIC_API_KEY'],
        ['GITHUB_TOKEN', '/run/agentcage/secrets/GITHUB_TOKEN'],
      ],
    );
    const proxySvc = find<IService>(objs, 'Service', 'full-proxy');
    assert.deepEqual(
      proxySvc.spec!.ports!.map((p) => [p.name, p.port, p.targetPort]),
      [
        ['proxy', 3128, 3128],
        ['http', 8080, 8080],
        ['https', 8443, 8443],
        ['metrics', 9090, 9090],
      ],
    );
    const dnsSvc = find<IService>(objs, 'Service', 'full-dns');
    assert.deepEqual(
      dnsSvc.spec!.ports!.map((p) => [p.protocol, p.port, p.targetPort]),
      [
        ['UDP', 53, 5353],
        ['TCP', 53, 5353],
      ],
    );
    const dnsDep = find<IDeployment>(objs, 'Deployment', 'full-dns');
    assert.equal(dnsDep.spec!.template.spec!.containers[0].ports![0].containerPort, 5353);
    assert.match(find<IConfigMap>(objs, 'ConfigMap', 'full-dnsmasq').data!['dnsmasq.conf'], /^port=5353$/m);
  });

  it('transparent mode: a NET_ADMIN init container NATs 80/443 to the proxy Service, and says it breaks "restricted"', () => {
    const objs = renderKubernetes(fullCage(), CTX);
    const pod = find<IPod>(objs, 'Pod', 'full-agent');
    const init = pod.spec!.initContainers!;
    assert.equal(init.length, 1);
    const script = init[0].command!.join(' ');
    assert.match(script, /--dport 80 -j DNAT --to-destination 10\.96\.12\.35:8080/);
    assert.match(script, /--dport 443 -j DNAT --to-destination 10\.96\.12\.35:8443/);
    assert.match(pod.metadata!.annotations!['agentcage.io/pod-security'], /restricted/);
    // The agent's own container keeps no capability.
    assert.deepEqual(pod.spec!.containers[0].securityContext!.capabilities, { drop: ['ALL'] });
  });

  it('a secret without a placeholder in spec or context is an error naming the field', () => {
    const c = cage({
      agent: { image: 'busybox' },
      egress: { allow: ['a.example'] },
      secrets: [{ name: 'K', injectTo: ['a.example'] }],
    });
    assert.throws(
      () => renderKubernetes(c, {}),
      (e: unknown) => e instanceof RenderError && e.path === 'spec.secrets[0].placeholder',
    );
    const ok = renderKubernetes(c, { placeholders: { K: PH(9) } });
    const pod = find<IPod>(ok, 'Pod', 'demo-agent');
    assert.ok(pod.spec!.containers[0].env!.some((e) => e.name === 'K' && e.value === PH(9)));
  });

  it('is pure: the same input gives the same output, and the Cage is not modified', () => {
    const c = deepFreeze(fullCage());
    const ctx = deepFreeze({ ...CTX });
    assert.deepEqual(renderKubernetes(c, ctx), renderKubernetes(c, ctx));
  });
});
