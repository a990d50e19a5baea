// The `agentcage` command, run for real (node bin/agentcage.js) as a user would.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPod } from 'kubernetes-models/v1/Pod';
import { validateCage } from '../../operator/api/load.ts';
import { listScaffolds, scaffoldText } from '../../operator/cli/init.ts';
import { labels } from '../../operator/render/index.ts';
import { assertValidKubeObject, exampleCage, npAllows } from './render-helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/agentcage.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function agentcage(args: string[], stdin?: string, cwd = ROOT): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(stdin ?? '');
  });
}

/** A stack trace has "    at fn (file:line:col)" lines; users never see one. */
function assertNoStack(r: Run) {
  assert.doesNotMatch(r.stderr + r.stdout, /^\s+at .+:\d+:\d+\)?$/m, 'stack trace printed');
}

const cageYaml = (spec: object, name = 'demo') =>
  yaml.dump({ apiVersion: 'agentcage.io/v1alpha1', kind: 'Cage', metadata: { name }, spec });
const image = { image: 'busybox' };
const PH_A = 'agentcage-ph-' + 'a'.repeat(32);
const PH_B = 'agentcage-ph-' + 'b'.repeat(32);

// Each bad input of the issue, the field path the message must name, and its allowed twin.
const BAD: { what: string; bad: string; field: string; twin: string }[] = [
  {
    what: 'an unknown field',
    bad: cageYaml({ agent: { ...image, bogus: true } }),
    field: 'spec.agent.bogus: unknown field "bogus"',
    twin: cageYaml({ agent: image }),
  },
  {
    what: 'both allow and block',
    bad: cageYaml({ agent: image, egress: { allow: ['a.example'], block: ['b.example'] } }),
    field: 'spec.egress: set either egress.allow',
    twin: cageYaml({ agent: image, egress: { block: ['b.example'] } }),
  },
  {
    what: 'an invalid domain',
    bad: cageYaml({ agent: image, egress: { allow: ['a.example', 'ok.example', 'https://evil.example/x'] } }),
    field: 'spec.egress.allow[2]: each allowed domain must be a lower-case domain name',
    twin: cageYaml({ agent: image, egress: { allow: ['a.example', 'ok.example', 'evil.example'] } }),
  },
  {
    what: 'a secret whose injectTo is empty',
    bad: cageYaml({ agent: image, secrets: [{ name: 'K', injectTo: [] }] }),
    field: 'spec.secrets[0].injectTo: name at least one domain',
    twin: cageYaml({ agent: image, secrets: [{ name: 'K', injectTo: ['api.example.com'] }] }),
  },
  {
    what: 'a placeholder that collides with another',
    bad: cageYaml({
      agent: image,
      secrets: [
        { name: 'A', placeholder: PH_A, injectTo: ['a.example'] },
        { name: 'B', placeholder: PH_A, injectTo: ['b.example'] },
      ],
    }),
    field: 'spec.secrets[1].placeholder: placeholder collides with secrets[0]',
    twin: cageYaml({
      agent: image,
      secrets: [
        { name: 'A', placeholder: PH_A, injectTo: ['a.example'] },
        { name: 'B', placeholder: PH_B, injectTo: ['b.example'] },
      ],
    }),
  },
  {
    what: 'a name that is not a DNS label',
    bad: cageYaml({ agent: image }, 'My_Cage'),
    field: 'metadata.name: a cage name is a DNS label',
    twin: cageYaml({ agent: image }, 'my-cage'),
  },
  {
    what: 'a published port bound to 0.0.0.0 without saying so',
    bad: cageYaml({ agent: { ...image, ports: [{ containerPort: 80, hostPort: 8080, hostIP: '0.0.0.0' }] } }),
    field: 'spec.agent.ports[0].hostIP: a port published on an address other than 127.0.0.1',
    twin: cageYaml({
      agent: {
        ...image,
        ports: [{ containerPort: 80, hostPort: 8080, hostIP: '0.0.0.0', allowAllInterfaces: true }],
      },
    }),
  },
];

describe('agentcage CLI', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'agentcage-cli-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('validate: bad input names the field, exits 1, no stack trace; the allowed twin passes', () => {
    for (const c of BAD) {
      it(c.what, async () => {
        const r = await agentcage(['validate', '-c', '-'], c.bad);
        assert.equal(r.code, 1, r.stderr);
        assert.ok(r.stderr.includes(c.field), `expected "${c.field}" in:\n${r.stderr}`);
        for (const line of r.stderr.trim().split('\n'))
          assert.match(line, /^[\w.[\]]+: \S/, 'one "field: problem" line each');
        assertNoStack(r);
        // The twin: the same cage with the problem fixed is accepted.
        const twin = validateCage(yaml.load(c.twin));
        assert.ok(twin.ok, JSON.stringify(!twin.ok && twin.problems));
      });
    }

    it('every twin, run through the CLI, exits 0', async () => {
      for (const [i, c] of BAD.entries()) writeFileSync(join(dir, `twin${i}.yaml`), c.twin);
      const runs = await Promise.all(
        [...BAD.keys()].map((i) => agentcage(['validate', '-c', join(dir, `twin${i}.yaml`)])),
      );
      runs.forEach((r, i) => {
        assert.equal(r.code, 0, `${BAD[i].what}: ${r.stderr}`);
        assert.match(r.stdout, /valid Cage/);
      });
    });

    it('several problems at once: one line each', async () => {
      const r = await agentcage(
        ['validate', '-c', '-'],
        cageYaml({
          agent: { ...image, bogus: 1 },
          egress: { allow: ['UPPER.example'] },
          secrets: [{ name: 'K', injectTo: [] }],
        }),
      );
      assert.equal(r.code, 1);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 3, r.stderr);
      assert.deepEqual(lines.map((l) => l.split(':')[0]).sort(), [
        'spec.agent.bogus',
        'spec.egress.allow[0]',
        'spec.secrets[0].injectTo',
      ]);
    });

    it('YAML that does not parse says where; a missing file says so', async () => {
      const r = await agentcage(['validate', '-c', '-'], 'apiVersion: [unclosed\n');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^line \d+, column \d+: not valid YAML/m);
      assertNoStack(r);
      const m = await agentcage(['validate', '-c', join(dir, 'missing.yaml')]);
      assert.equal(m.code, 1);
      assert.match(m.stderr, /cannot read .*missing\.yaml: no such file/);
    });
  });

  describe('usage', () => {
    it('--help works on every verb and exits 0', async () => {
      const verbs = [[], ['validate'], ['render'], ['crd'], ['init'], ['cage'], ['proxy']];
      const runs = await Promise.all(verbs.map((verb) => agentcage([...verb, '--help'])));
      runs.forEach((r, i) => {
        assert.equal(r.code, 0, `${verbs[i].join(' ')} --help: ${r.stderr}`);
        assert.match(r.stdout, /^Usage: agentcage/m);
      });
    });

    it('usage errors exit 2: missing option, bad --target, unknown verb, init without a scaffold', async () => {
      const cases = [
        ['validate'],
        ['render', '-c', 'examples/basic.yaml', '--target', 'docker'],
        ['render', '-c', 'examples/basic.yaml'],
        ['frobnicate'],
        ['init', 'x'],
        ['init', 'x', '--scaffold', 'nonexistent'],
      ];
      const runs = await Promise.all(cases.map((args) => agentcage(args)));
      runs.forEach((r, i) => {
        assert.equal(r.code, 2, `${cases[i].join(' ')}: ${r.stderr}`);
        assertNoStack(r);
      });
    });
  });

  describe('render', () => {
    it('--target kubernetes: objects that validate upstream, with a NetworkPolicy holding the agent to proxy and DNS', async () => {
      const r = await agentcage(['render', '-c', 'examples/basic.yaml', '--target', 'kubernetes']);
      assert.equal(r.code, 0, r.stderr);
      const docs = yaml.loadAll(r.stdout) as { kind: string; metadata: { name: string } }[];
      for (const d of docs) assertValidKubeObject(d);
      const cage = exampleCage('basic.yaml');
      const nps = docs.filter((d) => d.kind === 'NetworkPolicy') as unknown as INetworkPolicy[];
      const agentNp = nps.find(
        (np) => np.spec!.podSelector.matchLabels!['app.kubernetes.io/component'] === 'agent',
      )!;
      assert.ok(agentNp, 'a NetworkPolicy selects the agent');
      const peers = agentNp.spec!.egress!.flatMap((e) =>
        e.to!.map((t) => t.podSelector!.matchLabels!['app.kubernetes.io/component']),
      );
      assert.deepEqual(peers.sort(), ['dns', 'proxy']);
      const agent = labels(cage, 'agent');
      assert.equal(npAllows(nps, 'Egress', agent, 'default', { ip: '93.184.215.14' }, 443), false);
      assert.equal(
        npAllows(nps, 'Egress', agent, 'default', { pod: labels(cage, 'proxy'), namespace: 'default' }, 3128),
        true,
      );
    });

    it('--target podman: one YAML file per pod, which podman can play with the noted --network flags', async () => {
      const r = await agentcage(['render', '-c', 'examples/basic.yaml', '--target', 'podman']);
      assert.equal(r.code, 0, r.stderr);
      const docs = yaml.loadAll(r.stdout) as { kind: string; metadata: { name: string } }[];
      assert.deepEqual(
        docs.map((d) => `${d.kind}/${d.metadata.name}`),
        [
          'ConfigMap/basic-dnsmasq',
          'Pod/basic-dns',
          'ConfigMap/basic-proxy-policy',
          'Pod/basic-proxy',
          'ConfigMap/basic-ca',
          'Pod/basic-agent',
        ],
      );
      for (const d of docs) assertValidKubeObject(d);
      const agent = docs.find((d) => d.metadata.name === 'basic-agent') as unknown as IPod;
      assert.equal(agent.spec!.dnsPolicy, 'None');
      assert.match(
        r.stdout,
        /^# basic-agent\.yaml: podman kube play --replace --network agentcage-basic:ip=10\.213\.\d+\.4,mac=02:ac:0a:d5:[0-9a-f]{2}:04 basic-agent\.yaml$/m,
      );
    });

    it('generates placeholders the spec lacks and says so on stderr', async () => {
      const r = await agentcage(
        ['render', '-c', '-', '--target', 'kubernetes'],
        cageYaml({
          agent: image,
          egress: { allow: ['a.example'] },
          secrets: [{ name: 'TOKEN', injectTo: ['a.example'] }],
        }),
      );
      assert.equal(r.code, 0, r.stderr);
      const m =
        /spec\.secrets\[0\] TOKEN: no placeholder in the spec, generated (agentcage-ph-[0-9a-f]{32})/.exec(
          r.stderr,
        );
      assert.ok(m, r.stderr);
      assert.ok(r.stdout.includes(`value: ${m[1]}`), 'the agent gets the generated placeholder');
    });

    it('an invalid Cage is not rendered: exit 1 naming the field', async () => {
      const r = await agentcage(
        ['render', '-c', '-', '--target', 'podman'],
        cageYaml({ agent: { image: 'Not An Image' } }),
      );
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^spec\.agent\.image: image must be a reference/m);
      assert.equal(r.stdout, '');
    });
  });

  it('crd prints the committed CRD', async () => {
    const r = await agentcage(['crd']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, readFileSync(join(ROOT, 'crds/agentcage.io_cages.yaml'), 'utf8'));
  });

  describe('init', () => {
    it('--list-scaffolds lists the five agents', async () => {
      const r = await agentcage(['init', '--list-scaffolds']);
      assert.equal(r.code, 0);
      assert.deepEqual(
        r.stdout
          .trim()
          .split('\n')
          .map((l) => l.split(/\s+/)[0]),
        ['claude-code', 'codex', 'nanoclaw', 'openclaw', 'picoclaw'],
      );
    });

    it('every scaffold is a valid Cage with an allowlist and each secret bound to allowed domains', () => {
      for (const s of listScaffolds()) {
        const r = validateCage(yaml.load(scaffoldText(s, `my-${s}`)));
        assert.ok(r.ok, `${s}: ${JSON.stringify(!r.ok && r.problems)}`);
        assert.equal(r.cage.metadata.name, `my-${s}`);
        const allow = r.cage.spec.egress.allow;
        assert.ok(allow && allow.length > 0, `${s}: an allowlist`);
        for (const sec of r.cage.spec.secrets)
          for (const d of sec.injectTo)
            assert.ok(allow.includes(d), `${s}: ${sec.name} injects to ${d}, which is not allowed`);
      }
    });

    it('writes cage.yaml that validates, and refuses to overwrite it without --force', async () => {
      const w = await agentcage(['init', 'my-agent', '--scaffold', 'claude-code'], undefined, dir);
      assert.equal(w.code, 0, w.stderr);
      const file = join(dir, 'cage.yaml');
      const text = readFileSync(file, 'utf8');
      assert.match(text, /^ {2}name: my-agent$/m);
      assert.match(text, /^# Claude Code/, 'comments kept');
      const v = await agentcage(['validate', '-c', file]);
      assert.equal(v.code, 0, v.stderr);
      const again = await agentcage(['init', 'my-agent', '--scaffold', 'codex'], undefined, dir);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /exists: pass --force/);
      assert.equal(readFileSync(file, 'utf8'), text, 'left untouched');
      const bad = await agentcage(['init', 'Not_A_Label', '--scaffold', 'codex', '-o', '-']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^metadata\.name: "Not_A_Label" is not a cage name/m);
    });
  });
});
