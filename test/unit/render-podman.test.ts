import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import yaml from 'js-yaml';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IPod } from 'kubernetes-models/v1/Pod';
import { parsePolicy } from '../../operator/api/policy.ts';
import {
  cageAddresses,
  pickSubnet,
  podmanHostFirewall,
  podmanSecretData,
  renderPodman,
  type PodmanContext,
  type PodmanPlan,
} from '../../operator/render/index.ts';
import { parseCidr } from '../../operator/render/subnet.ts';
import { assertValidKubeObject, cage, deepFreeze, exampleCage, fullCage, PH } from './render-helpers.ts';

const CTX: PodmanContext = { placeholders: { ANTHROPIC_API_KEY: PH(1) }, caCertPem: 'PEM' };

function pod(plan: PodmanPlan, component: 'dns' | 'proxy' | 'agent'): IPod {
  const p = plan.pods.find((x) => x.component === component)!;
  return p.objects.find((o): o is IPod => o.kind === 'Pod')!;
}

function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a)!;
  const y = parseCidr(b)!;
  return x.start <= y.end && y.start <= x.end;
}

function podmanHelp(...args: string[]): string | undefined {
  try {
    return execFileSync('podman', [...args, '--help'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return undefined;
  }
}

describe('renderPodman', () => {
  it('plans one internal network per cage with fixed addresses; proxy and dns also join the egress network', () => {
    const plan = renderPodman(exampleCage('basic.yaml'), CTX);
    const a = plan.addresses;
    assert.match(a.subnet, /^10\.213\.\d+\.0\/24$/);
    const base = a.subnet.replace(/0\/24$/, '');
    assert.deepEqual(
      [a.gateway, a.dns, a.proxy, a.agent],
      [1, 2, 3, 4].map((i) => base + i),
    );
    assert.deepEqual(plan.network.createArgs.slice(0, 4), [
      'network',
      'create',
      '--internal',
      '--disable-dns',
    ]);
    assert.equal(plan.network.createArgs.at(-1), 'agentcage-basic');
    assert.deepEqual(
      plan.pods.map((p) => [p.component, p.networks]),
      [
        ['dns', [{ name: 'agentcage-basic', ip: a.dns }, { name: 'agentcage-egress' }]],
        ['proxy', [{ name: 'agentcage-basic', ip: a.proxy }, { name: 'agentcage-egress' }]],
        ['agent', [{ name: 'agentcage-basic', ip: a.agent }]],
      ],
    );
    assert.deepEqual(plan.pods[2].playArgs, [
      'kube',
      'play',
      '--replace',
      '--network',
      `agentcage-basic:ip=${a.agent},mac=02:ac:${a.agent
        .split('.')
        .map((o) => Number(o).toString(16).padStart(2, '0'))
        .join(':')}`,
    ]);
    assert.equal(
      renderPodman(exampleCage('basic.yaml'), { ...CTX, egressNetwork: 'out' }).pods[0].networks[1].name,
      'out',
    );
  });

  it('picks a subnet that never collides with one in use, stable for a name', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 20, max: 28 })), {
          maxLength: 60,
        }),
        (name, used) => {
          const usedCidrs = used.map(([third, len]) => `10.213.${third}.0/${len}`);
          const got = pickSubnet(name, usedCidrs);
          assert.ok(overlaps(got.subnet, '10.213.0.0/16'));
          for (const u of usedCidrs) assert.ok(!overlaps(got.subnet, u), `${got.subnet} overlaps ${u}`);
          assert.deepEqual(pickSubnet(name, usedCidrs), got);
        },
      ),
      { numRuns: 300 },
    );
    // Unrelated networks (IPv6, other ranges) do not count; a full pool is an error.
    assert.ok(pickSubnet('a', ['fd00::/64', '192.168.0.0/16']));
    assert.throws(() => pickSubnet('a', ['10.213.0.0/16']), /every \/24 of 10\.213\.0\.0\/16 is in use/);
    // An existing cage keeps its subnet.
    assert.equal(
      renderPodman(exampleCage('basic.yaml'), { ...CTX, subnet: '10.213.77.0/24' }).addresses.agent,
      '10.213.77.4',
    );
    assert.deepEqual(cageAddresses('10.9.8.0/24').proxy, '10.9.8.3');
  });

  it('two cages side by side: disjoint subnets, pod, volume, secret and network names', () => {
    const a = renderPodman(fullCage('alpha'), CTX);
    const b = renderPodman(fullCage('beta'), { ...CTX, usedSubnets: [a.addresses.subnet] });
    assert.ok(!overlaps(a.addresses.subnet, b.addresses.subnet));
    const names = (p: PodmanPlan) =>
      new Set([
        p.network.name,
        ...p.secrets.map((s) => s.name),
        ...p.pods.flatMap((x) => [x.name, ...x.objects.map((o) => o.metadata!.name!)]),
        ...p.pods.flatMap((x) =>
          x.objects.flatMap((o) => (o.kind === 'Pod' ? o.spec!.volumes!.map((v) => v.name) : [])),
        ),
      ]);
    const na = names(a);
    for (const n of names(b)) assert.ok(!na.has(n), `${n} used by both cages`);
    // podman shares emptyDir volumes by name across pods: each name carries the cage's.
    for (const p of a.pods)
      for (const v of pod(a, p.component).spec!.volumes!) assert.match(v.name, /^c5-alpha-/);
  });

  it('volume names never collide: across cages whose names share a prefix, nor with agentcage own volumes', () => {
    const volumeNames = (plan: PodmanPlan) =>
      plan.pods.flatMap((p) => pod(plan, p.component).spec!.volumes!.map((v) => v.name));
    // cage "a" with a volume "b-tmp" against cage "a-b" with a volume "tmp": once both were "a-b-tmp".
    const a = renderPodman(
      cage({ agent: { image: 'x/y:1', volumes: [{ name: 'b-tmp', mountPath: '/w' }] } }, 'a'),
      {},
    );
    const ab = renderPodman(
      cage({ agent: { image: 'x/y:1', volumes: [{ name: 'tmp', mountPath: '/w' }] } }, 'a-b'),
      {},
    );
    const inA = new Set(volumeNames(a));
    for (const n of volumeNames(ab)) assert.ok(!inA.has(n), `${n} is in both cages`);
    // A user volume named after the proxy's /tmp stays the agent's own, apart from the proxy's.
    const sneaky = renderPodman(
      cage({ agent: { image: 'x/y:1', volumes: [{ name: 'proxy-tmp', mountPath: '/w' }] } }, 'a'),
      {},
    );
    const proxyVols = new Set(pod(sneaky, 'proxy').spec!.volumes!.map((v) => v.name));
    for (const v of pod(sneaky, 'agent').spec!.volumes!)
      assert.ok(!proxyVols.has(v.name), `agent volume ${v.name} is also mounted by the proxy`);
  });

  it('the YAML parses back to the objects, and each object validates against the upstream schemas', () => {
    for (const c of [
      exampleCage('basic.yaml'),
      fullCage(),
      cage({ agent: { image: 'busybox' }, egress: { block: ['x.example'] } }),
    ]) {
      for (const p of renderPodman(c, CTX).pods) {
        const docs = yaml.loadAll(p.yaml);
        assert.deepEqual(docs, JSON.parse(JSON.stringify(p.objects)));
        assert.deepEqual(
          docs.map((d) => (d as { kind: string }).kind),
          ['ConfigMap', 'Pod'],
          'one pod per file',
        );
        for (const d of docs) assertValidKubeObject(d as { kind: string });
      }
    }
  });

  it('agent: the cage dnsmasq is its resolver (never aardvark), the proxy at its fixed address, hardened', () => {
    const plan = renderPodman(fullCage(), CTX);
    const agent = pod(plan, 'agent');
    assert.equal(agent.spec!.dnsPolicy, 'None');
    assert.deepEqual(agent.spec!.dnsConfig!.nameservers, [plan.addresses.dns]);
    const env = Object.fromEntries(agent.spec!.containers[0].env!.map((e) => [e.name, e.value]));
    assert.equal(env.HTTPS_PROXY, `http://${plan.addresses.proxy}:3128`);
    assert.equal(env.ANTHROPIC_API_KEY, PH(1));
    const sc = agent.spec!.containers[0].securityContext!;
    assert.deepEqual(
      [
        sc.runAsNonRoot,
        sc.readOnlyRootFilesystem,
        sc.allowPrivilegeEscalation,
        sc.capabilities,
        sc.seccompProfile?.type,
      ],
      [true, true, false, { drop: ['ALL'] }, 'RuntimeDefault'],
    );
    assert.equal(agent.spec!.containers[0].imagePullPolicy, 'IfNotPresent', 'a registry image');
    // Transparent: the init container adds the route an internal network lacks, then the NAT.
    const script = agent.spec!.initContainers![0].command!.join(' ');
    assert.match(script, /ip route replace default dev eth0/);
    assert.match(
      script,
      new RegExp(`--dport 443 -j DNAT --to-destination ${plan.addresses.proxy.replace(/\./g, '\\.')}:8443`),
    );
    assert.notEqual(agent.spec!.restartPolicy, 'Always', 'init containers loop under Always in podman 4.3');
  });

  it('published ports bind 127.0.0.1 unless the Cage says allowAllInterfaces', () => {
    const local = pod(renderPodman(fullCage(), CTX), 'agent').spec!.containers[0].ports!;
    assert.deepEqual(local, [{ containerPort: 8080, protocol: 'TCP', hostPort: 18080, hostIP: '127.0.0.1' }]);
    const open = cage({
      agent: {
        image: 'busybox',
        ports: [{ containerPort: 80, hostPort: 8080, hostIP: '0.0.0.0', allowAllInterfaces: true }],
      },
    });
    assert.equal(pod(renderPodman(open, CTX), 'agent').spec!.containers[0].ports![0].hostIP, '0.0.0.0');
  });

  it('secrets: podman secrets reach the proxy pod alone, through env named in its policy', () => {
    const plan = renderPodman(fullCage(), CTX);
    assert.deepEqual(
      plan.secrets.map((s) => [s.name, s.keys, s.role]),
      [
        ['agentcage-full-ANTHROPIC_API_KEY', ['value'], 'secret'],
        ['agentcage-full-GITHUB_TOKEN', ['value'], 'secret'],
      ],
    );
    assert.deepEqual(plan.secrets[0].valueFrom, { secretKeyRef: { name: 'llm-keys', key: 'anthropic' } });
    for (const p of plan.pods) {
      const refs = [...p.yaml.matchAll(/secretKeyRef:\s+name: (\S+)/g)].map((m) => m[1]);
      if (p.component === 'proxy') assert.deepEqual(new Set(refs), new Set(plan.secrets.map((s) => s.name)));
      else assert.deepEqual(refs, [], `${p.component} must not see a secret`);
    }
    const proxyPlan = plan.pods.find((p) => p.component === 'proxy')!;
    const cm = proxyPlan.objects.find((o): o is IConfigMap => o.kind === 'ConfigMap')!;
    const policy = parsePolicy(JSON.parse(cm.data!['policy.json']));
    const env = pod(plan, 'proxy').spec!.containers[0].env!.map((e) => e.name);
    for (const s of policy.secrets) assert.ok(s.valueFrom.env && env.includes(s.valueFrom.env), s.name);
    // The payload format kube play's secretKeyRef reads: JSON of base64 values.
    const data = JSON.parse(podmanSecretData({ value: 'sk-real-ä' }));
    assert.equal(Buffer.from(data.value, 'base64').toString('utf8'), 'sk-real-ä');
  });

  it('the CA key pair reaches the proxy pod alone, as its --ca-dir; the agent gets the certificate only', () => {
    const plan = renderPodman(fullCage(), { ...CTX, caCertPem: 'CERT-PEM', caKeyPem: 'KEY-PEM' });
    const proxyFile = plan.pods.find((p) => p.component === 'proxy')!;
    const caCm = proxyFile.objects.find(
      (o): o is IConfigMap => o.kind === 'ConfigMap' && o.metadata!.name === 'full-proxy-ca',
    )!;
    assert.deepEqual(caCm.data, { 'ca.crt': 'CERT-PEM', 'ca.key': 'KEY-PEM' });
    const proxy = pod(plan, 'proxy').spec!;
    const args = proxy.containers[0].args!;
    const caDir = args[args.indexOf('--ca-dir') + 1];
    const mount = proxy.containers[0].volumeMounts!.find((m) => m.mountPath === caDir)!;
    assert.equal(proxy.volumes!.find((v) => v.name === mount.name)!.configMap!.name, 'full-proxy-ca');
    for (const p of plan.pods)
      if (p.component !== 'proxy')
        assert.ok(!p.yaml.includes('KEY-PEM'), `${p.component} must not hold the CA key`);
    assert.match(plan.pods.find((p) => p.component === 'agent')!.yaml, /CERT-PEM/);
    // Without a key there is no CA ConfigMap: the proxy cannot start rather than mint a CA nobody trusts.
    assert.ok(
      !renderPodman(fullCage(), CTX).pods[1].objects.some((o) => o.metadata!.name === 'full-proxy-ca'),
    );
  });

  it('proxy and dns pods drop forwarding in an init container (they must not route for the agent)', () => {
    const plan = renderPodman(exampleCage('basic.yaml'), CTX);
    for (const c of ['proxy', 'dns'] as const) {
      const spec = pod(plan, c).spec!;
      const init = spec.initContainers!;
      assert.equal(init.length, 1, c);
      assert.match(init[0].command!.join(' '), /iptables -P FORWARD DROP/);
      assert.deepEqual(init[0].securityContext!.capabilities, { drop: ['ALL'], add: ['NET_ADMIN'] });
      assert.equal(spec.restartPolicy, 'OnFailure', c);
      assert.equal(init[0].imagePullPolicy, 'Never', 'localhost images are never pulled');
    }
    // dns listens on 53 on the cage network, with exactly the capability that takes.
    const dns = pod(plan, 'dns').spec!.containers[0];
    assert.deepEqual(dns.securityContext!.capabilities, { drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
    assert.equal(dns.securityContext!.runAsUser, 10001);
    const conf = (plan.pods[0].objects[0] as IConfigMap).data!['dnsmasq.conf'];
    assert.match(conf, /^port=53$/m);
    assert.match(conf, new RegExp(`^listen-address=${plan.addresses.dns.replace(/\./g, '\\.')}$`, 'm'));
    assert.equal(pod(plan, 'agent').spec!.initContainers, undefined, 'explicit mode: no init in the agent');
  });

  it('host firewall rules for the cage bridge, both address families', () => {
    assert.deepEqual(podmanHostFirewall('podman7'), [
      { command: 'iptables', args: ['-I', 'INPUT', '-i', 'podman7', '-j', 'REJECT'] },
      { command: 'ip6tables', args: ['-I', 'INPUT', '-i', 'podman7', '-j', 'REJECT'] },
    ]);
  });

  it('is pure: same input, same plan; the Cage is not modified', () => {
    const c = deepFreeze(fullCage());
    assert.deepEqual(renderPodman(c, CTX), renderPodman(c, CTX));
  });

  it("keeps the agent off the proxy's metrics: the proxy resets connections from the cage network", () => {
    const plan = renderPodman(fullCage(), CTX);
    const args = pod(plan, 'proxy').spec!.containers[0].args!;
    assert.equal(args[args.indexOf('--metrics-deny') + 1], plan.network.subnet);
    // The agent is on that network; the dns pod's address is too (it has no business there either).
    const agentIp = plan.pods.find((p) => p.component === 'agent')!.networks[0].ip!;
    assert.equal(
      agentIp.split('.').slice(0, 3).join('.'),
      plan.network.subnet.split('.').slice(0, 3).join('.'),
    );
  });

  const help = podmanHelp('kube', 'play');
  (help ? it : it.skip)(
    'uses only flags this podman knows (kube play, network create, secret create)',
    () => {
      const plan = renderPodman(fullCage(), CTX);
      const flags = (args: string[]) => args.filter((a) => a.startsWith('--'));
      for (const f of flags(plan.pods.flatMap((p) => p.playArgs)))
        assert.ok(help!.includes(f), `kube play ${f}`);
      const net = podmanHelp('network', 'create')!;
      for (const f of flags([...plan.network.createArgs, ...plan.egressNetwork.createArgs]))
        assert.ok(net.includes(f), `network create ${f}`);
      const sec = podmanHelp('secret', 'create')!;
      for (const f of flags(plan.secrets.flatMap((s) => s.createArgs)))
        assert.ok(sec.includes(f), `secret create ${f}`);
    },
  );
});
