// End to end on real podman: a cage created with the agentcage CLI in front of a stand-in
// internet (its own podman network and CA), and everything checked from inside the agent with
// curl, dig and node. One cage (A) is shared by most tests; a second (B) proves two cages do not
// see each other and that destroy leaves nothing behind. Every container, network and host rule
// the suite makes is removed in after(), also when a test fails.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodmanController } from '../../operator/controller/podman/controller.ts';
import { podman, podmanJson, run } from '../../operator/controller/podman/exec.ts';
import type { NetworkInfo } from '../../operator/controller/podman/plan.ts';
import { CageStore, type CageRecord } from '../../operator/controller/podman/state.ts';
import type { Reply, WsResult } from './support/agent-client.ts';
import { agentcage, client, inAgent, requirePodman, REPO } from './support/harness.ts';
import { bundle, startInternet, type Internet } from './support/internet.ts';

const REAL = `sk-real-${randomBytes(12).toString('hex')}`;
const ID = randomBytes(3).toString('hex');
const A = `e2e-a-${ID}`;
const B = `e2e-b-${ID}`;
const NAMES = ['api.example.test', 'other.example.test'];

interface Addresses {
  gateway: string;
  dns: string;
  proxy: string;
  agent: string;
}

function cageYaml(
  name: string,
  e2eDir: string,
  extra: { agentCommand?: string[]; allow?: string[] } = {},
): string {
  return `apiVersion: agentcage.io/v1alpha1
kind: Cage
metadata:
  name: ${name}
spec:
  agent:
    image: localhost/agentcage-agent-demo:dev
    command: ${JSON.stringify(extra.agentCommand ?? ['sleep', 'infinity'])}
    volumes:
      - name: e2e
        mountPath: /e2e
        hostPath: ${e2eDir}
        readOnly: true
  egress:
    allow: ${JSON.stringify(extra.allow ?? NAMES)}
  dns:
    upstreams: ["INET_IP"]
  secrets:
    - name: API_KEY
      injectTo: [api.example.test]
      injectIn: [headers, websocket]
  capture:
    har: true
`;
}

describe('local cage on podman (e2e)', function () {
  this.timeout(120_000);
  let dir = '';
  let agentDir = '';
  let state = '';
  let inet: Internet | undefined;
  let hostServer: http.Server | undefined;
  let hostPort = 0;
  let placeholder = '';
  let addrA: Addresses;
  const controlNet = `agentcage-e2e-control-${ID}`;
  const store = () => new CageStore(state);

  async function create(
    name: string,
    yaml: string,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, yaml.replace('INET_IP', inet!.ip));
    const args = [
      'cage',
      'create',
      '-c',
      file,
      '--upstream-ca',
      inet!.caFile,
      '--allow-private',
      inet!.subnet,
    ];
    for (const n of NAMES) args.push('--proxy-host', `${n}=${inet!.ip}`);
    return agentcage([...args, '-s', `API_KEY=${REAL}`], state);
  }

  function addresses(name: string): Addresses {
    return JSON.parse(readFileSync(join(state, name, 'rendered/plan.json'), 'utf8')).addresses as Addresses;
  }

  function record(name: string): CageRecord {
    return store().read(name);
  }

  async function upstreamSaw(testId: string) {
    return (await inet!.records()).filter(
      (r) => r.kind === 'http' && (r.headers?.['x-test-id'] === testId || r.body?.includes(testId)),
    );
  }

  before(async function () {
    this.timeout(180_000);
    await requirePodman(this);
    dir = mkdtempSync(join(tmpdir(), 'agentcage-e2e-'));
    state = join(dir, 'state');
    // What the agent sees at /e2e: only the client, readable by the agent's uid.
    agentDir = join(dir, 'agent');
    mkdirSync(agentDir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    await bundle(join(REPO, 'test/e2e/support/agent-client.ts'), join(agentDir, 'agent-client.mjs'));
    inet = await startInternet({ names: NAMES, leak: REAL, prefix: `agentcage-e2e-inet-${ID}` });
    // A host service on every address, IPv4 and IPv6: what a cage must not reach.
    hostServer = http.createServer((_q, s) => s.end('host service\n'));
    await new Promise<void>((r) => hostServer!.listen(0, '::', r));
    hostPort = (hostServer.address() as AddressInfo).port;
    const r = await create(A, cageYaml(A, agentDir));
    assert.equal(r.code, 0, `cage create failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /playing dns pod[\s\S]*playing proxy pod[\s\S]*playing agent pod[\s\S]*is ready/);
    addrA = addresses(A);
    placeholder = (await inAgent(A, 'printf %s "$API_KEY"')).stdout;
  });

  after(async function () {
    this.timeout(120_000);
    if (!state) return;
    // For debugging a failure: leave everything running and say where it is.
    hostServer?.close();
    if (process.env.AGENTCAGE_E2E_KEEP === '1') return console.log(`    kept: AGENTCAGE_STATE_DIR=${state}`);
    const ctl = new PodmanController(store());
    for (const name of store().names()) await ctl.destroy(name).catch(() => {});
    await podman(['rm', '-f', '-t', '0', `${controlNet}-probe`], { allowFail: true });
    await podman(['network', 'rm', '-f', controlNet], { allowFail: true });
    await inet?.stop();
    hostServer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the agent holds a placeholder, never the real value', () => {
    assert.match(placeholder, /^agentcage-ph-[0-9a-f]{32}$/);
    assert.notEqual(placeholder, REAL);
  });

  it('an allowed host answers 200, and the upstream got the real secret where the agent sent its placeholder', async () => {
    const id = randomBytes(4).toString('hex');
    const r = await client<Reply>(A, [
      'request',
      'GET',
      'https://api.example.test/echo',
      `authorization: Bearer ${placeholder}`,
      `x-test-id: ${id}`,
    ]);
    assert.equal(r.status, 200, JSON.stringify(r));
    const seen = await upstreamSaw(id);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].headers?.authorization, `Bearer ${REAL}`);
    assert.ok(!r.body.includes(REAL), 'the echoed real value reached the agent');
  });

  it('the same placeholder sent to another allowed host stays a placeholder', async () => {
    const id = randomBytes(4).toString('hex');
    const r = await client<Reply>(A, [
      'request',
      'GET',
      'https://other.example.test/echo',
      `authorization: Bearer ${placeholder}`,
      `x-test-id: ${id}`,
    ]);
    const seen = await upstreamSaw(id);
    // Either the proxy refuses to send the placeholder there, or it arrives unchanged: never the real value.
    if (r.status === 200) {
      assert.equal(seen.length, 1);
      assert.equal(seen[0].headers?.authorization, `Bearer ${placeholder}`);
    } else assert.equal(seen.length, 0, JSON.stringify(r));
    for (const s of seen) assert.ok(!JSON.stringify(s).includes(REAL));
  });

  it('a real value in a response is redacted before it reaches the agent', async () => {
    const r = await client<Reply>(A, ['request', 'GET', 'https://api.example.test/leak']);
    assert.equal(r.status, 200);
    assert.match(r.body, /here is the key: /);
    assert.ok(!r.body.includes(REAL), r.body);
  });

  it('a non-permitted domain gets the DNS placeholder and a JSON 403', async () => {
    const dig = await inAgent(
      A,
      'dig +short +time=2 +tries=1 evil.example.com A; dig +short +time=2 +tries=1 evil.example.com AAAA; dig +short +time=2 +tries=1 api.example.test A',
    );
    assert.deepEqual(dig.stdout.trim().split('\n'), ['198.51.100.1', '100::1', inet!.ip]);
    const r = await inAgent(A, 'curl -sS -o /dev/stdout -w "\\n%{http_code}" https://evil.example.com/x');
    const [body, code] = [
      r.stdout.slice(0, r.stdout.lastIndexOf('\n')),
      r.stdout.slice(r.stdout.lastIndexOf('\n') + 1),
    ];
    assert.equal(code, '403');
    const j = JSON.parse(body) as { inspector: string; reason: string };
    assert.equal(j.inspector, 'domain');
    assert.match(j.reason, /evil\.example\.com/);
  });

  it('an AWS key in a POST body is blocked and audited, and never reaches the upstream', async () => {
    const id = randomBytes(4).toString('hex');
    const key =
      'AKIA' +
      randomBytes(10)
        .toString('hex')
        .toUpperCase()
        .replace(/[01890]/g, 'Q')
        .slice(0, 16);
    const body = `id=${id}&aws_access_key_id=${key}`;
    const r = await client<Reply>(A, [
      'request',
      'POST',
      'https://api.example.test/upload',
      'content-type: text/plain',
      `x-test-id: ${id}`,
      '--body',
      body,
    ]);
    assert.equal(r.status, 403, JSON.stringify(r));
    assert.equal((JSON.parse(r.body) as { inspector: string }).inspector, 'secrets');
    assert.equal((await upstreamSaw(id)).length, 0);
    const audit = await agentcage(
      ['cage', 'audit', A, '--decision', 'blocked', '--host', 'api.example.test', '--json'],
      state,
    );
    assert.equal(audit.code, 0, audit.stderr);
    const recs = audit.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path?: string; inspector?: string });
    assert.ok(
      recs.some((x) => x.path === '/upload' && x.inspector === 'secrets'),
      audit.stdout,
    );
    assert.ok(!audit.stdout.includes(key), 'the audit line repeats the key');
  });

  it('a direct connection to an IP fails (the only way out is the proxy)', async () => {
    const r = await inAgent(A, `curl -sS -m 5 --noproxy '*' -k https://${inet!.ip}/; echo "rc=$?"`);
    assert.match(r.stdout.trim(), /rc=7$/, r.stdout + r.stderr); // 7: could not connect
    const n = await inAgent(
      A,
      `node -e "require('net').connect(443,'${inet!.ip}').on('error',e=>console.log(e.code)).on('connect',()=>console.log('CONNECTED'))"`,
    );
    assert.equal(n.stdout.trim(), 'ENETUNREACH');
    // The twin: the same upstream through the proxy.
    assert.equal((await client<Reply>(A, ['request', 'GET', 'https://api.example.test/'])).status, 200);
  });

  it("the agent cannot read the proxy's metrics port; its proxy port is the twin that answers", async () => {
    const r = await inAgent(
      A,
      `for p in 9090 3128; do node -e "require('net').connect(+process.argv[1],'${addrA.proxy}').on('connect',function(){this.write('GET /readyz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')}).on('data',d=>{console.log(String(d).split(' ')[0]);process.exit(0)}).on('error',e=>{console.log(['ECONNRESET','EPIPE'].includes(e.code)?'RESET':e.code);process.exit(0)}).on('close',()=>console.log('CLOSED'))" $p; done`,
    );
    // 9090 is reset before a byte is read; 3128 answers (a 400: /readyz is not a proxy request).
    assert.deepEqual(r.stdout.trim().split('\n'), ['RESET', 'HTTP/1.1'], r.stdout + r.stderr);
  });

  it('host services are unreachable through the bridge gateway and IPv6 link-local (an uncaged container reaches them)', async () => {
    const bridge = record(A).bridge!;
    const ll = /inet6 (fe80::[0-9a-f:]+)/.exec(
      (await run('ip', ['-6', '-o', 'addr', 'show', 'dev', bridge])).stdout,
    )?.[1];
    assert.ok(ll, `no link-local address on ${bridge}`);
    const r = await inAgent(
      A,
      `for u in http://${addrA.gateway}:${hostPort}/ "http://[${ll}%25eth0]:${hostPort}/"; do curl -sS -g -m 3 --noproxy '*' "$u"; echo "rc=$?"; done`,
    );
    const codes = [...r.stdout.matchAll(/rc=(\d+)/g)].map((m) => m[1]);
    assert.equal(codes.length, 2);
    assert.ok(
      codes.every((c) => c !== '0'),
      r.stdout,
    );
    assert.ok(!r.stdout.includes('host service'));
    // The leak this closes is real: a container on a bare --internal network reaches the same service.
    await podman(['network', 'create', '--internal', '--disable-dns', controlNet]);
    const [net] = await podmanJson<NetworkInfo[]>(['network', 'inspect', controlNet]);
    await podman([
      'run',
      '-d',
      '--pull=never',
      '--name',
      `${controlNet}-probe`,
      '--network',
      controlNet,
      'localhost/agentcage-agent-demo:dev',
      'sleep',
      '60',
    ]);
    const cll = /inet6 (fe80::[0-9a-f:]+)/.exec(
      (await run('ip', ['-6', '-o', 'addr', 'show', 'dev', net.network_interface!])).stdout,
    )?.[1];
    // Fresh link-local addresses are "tentative" for a second or two (DAD): retry a little.
    let leak = { code: 1, stdout: '', stderr: '' };
    for (let i = 0; i < 10 && leak.stdout !== 'host service\n'; i++) {
      if (i) await new Promise((res) => setTimeout(res, 500));
      leak = await podman(
        [
          'exec',
          `${controlNet}-probe`,
          'curl',
          '-sS',
          '-g',
          '-m',
          '5',
          `http://[${cll}%25eth0]:${hostPort}/`,
        ],
        { allowFail: true },
      );
    }
    assert.equal(
      leak.stdout,
      'host service\n',
      `the control container did not reach the host: ${leak.stderr}`,
    );
  });

  it("aardvark is not the agent's resolver: only the cage's dnsmasq answers", async () => {
    const r = await inAgent(
      A,
      `grep ^nameserver /etc/resolv.conf; dig +short +time=2 +tries=1 @${addrA.gateway} api.example.test; echo "rc=$?"`,
    );
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(
      lines.filter((l) => l.startsWith('nameserver')),
      [`nameserver ${addrA.dns}`],
    );
    assert.ok(!lines.includes(inet!.ip), 'something answered DNS on the gateway');
    assert.match(r.stdout, /rc=9/); // 9: no reply from server
  });

  it('the proxy pod does not route for the agent, even when the agent points its route at it', async () => {
    // A helper with NET_ADMIN in the agent pod (the agent itself has no capability to do this).
    const helper = [
      'run', '--rm', '--pull=never', '--pod', `${A}-agent`, '--user', '0', '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN',
      'localhost/agentcage-agent-demo:dev', 'sh', '-c',
      `ip route replace default via ${addrA.proxy} && ip route get ${inet!.ip}; curl -sS -m 4 --noproxy '*' http://${inet!.ip}/; echo "rc=$?"; ip route del default`,
    ]; // prettier-ignore
    const r = await podman(helper, { allowFail: true, timeoutMs: 60_000 });
    assert.match(r.stdout, new RegExp(`via ${addrA.proxy.replace(/\./g, '\\.')}`), r.stdout + r.stderr);
    assert.match(r.stdout, /rc=(7|28)$/m, r.stdout);
    const seen = (await inet!.records()).filter(
      (x) =>
        x.kind === 'http' &&
        x.url === '/' &&
        x.headers?.['user-agent']?.includes('curl') &&
        x.host === inet!.ip,
    );
    assert.equal(seen.length, 0, 'the upstream got a direct request');
  });

  it('WebSocket frames are inspected: echo works, a frame with a key is stopped, the placeholder is swapped both ways', async () => {
    const id = randomBytes(4).toString('hex');
    const key =
      'AKIA' +
      'QRSTUVWXYZ234567'
        .split('')
        .sort(() => Math.random() - 0.5)
        .join('');
    const r = await client<WsResult>(A, [
      'ws',
      'wss://api.example.test/ws',
      `hello ${id}`,
      `token ${placeholder} ${id}`,
      `key ${key} ${id}`,
    ]);
    assert.ok(r.opened, JSON.stringify(r));
    assert.ok(r.received.includes(`hello ${id}`), JSON.stringify(r));
    const frames = (await inet!.records())
      .filter((x) => x.kind === 'ws' && x.data?.includes(id))
      .map((x) => x.data);
    assert.ok(frames.includes(`hello ${id}`));
    assert.ok(frames.includes(`token ${REAL} ${id}`), `upstream frames: ${JSON.stringify(frames)}`);
    assert.ok(!frames.some((f) => f?.includes(key)), 'the key frame reached the upstream');
    assert.ok(!JSON.stringify(r).includes(REAL), 'the real value came back to the agent');
  });

  it('with the proxy pod stopped the agent gets connection errors, not the internet; started again, traffic flows', async function () {
    this.timeout(90_000);
    await podman(['pod', 'stop', '-t', '2', `${A}-proxy`]);
    try {
      const id = randomBytes(4).toString('hex');
      const down = await client<Reply>(A, [
        'request',
        'GET',
        'https://api.example.test/echo',
        `x-test-id: ${id}`,
      ]);
      assert.equal(down.status, 0, JSON.stringify(down));
      assert.match(down.error ?? '', /EHOSTUNREACH|ECONNREFUSED|ETIMEDOUT|timed out/);
      assert.equal((await upstreamSaw(id)).length, 0);
    } finally {
      await podman(['pod', 'start', `${A}-proxy`]);
    }
    let r: Reply = { status: 0, body: '' };
    for (let i = 0; i < 50 && r.status !== 200; i++) {
      r = await client<Reply>(A, ['request', 'GET', 'https://api.example.test/echo']);
      if (r.status !== 200) await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(r.status, 200, JSON.stringify(r));
  });

  it('cage verify passes every check', async () => {
    const r = await agentcage(['cage', 'verify', A], state);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /^FAIL/m);
    for (const c of [
      'capabilities are zero',
      'root filesystem read-only',
      'no-new-privileges set',
      'the agent holds no real secret value',
      'host services unreachable',
      'DNS placeholder',
      'JSON 403',
      'fake secret',
      'CA is trusted',
      'no route out',
    ])
      assert.match(r.stdout, new RegExp(`PASS  [^\\n]*${c}`), `no PASS for "${c}"`);
  });

  it('cage list and show report the cage, its pods and its decisions', async () => {
    const list = await agentcage(['cage', 'list', '-o', 'json'], state);
    const rows = JSON.parse(list.stdout) as { name: string; status: string }[];
    assert.deepEqual(rows.find((x) => x.name === A)?.status, 'Ready');
    const show = await agentcage(['cage', 'show', A, '-o', 'json'], state);
    const doc = JSON.parse(show.stdout) as { caFingerprint: string; decisions: Record<string, number> };
    assert.match(doc.caFingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.ok(doc.decisions.blocked > 0 && doc.decisions.allowed > 0, JSON.stringify(doc.decisions));
  });

  it('update with a bad file leaves the running cage untouched', async () => {
    const ids = async () =>
      (await podman(['ps', '--filter', `name=^${A}-`, '--format', '{{.ID}}'])).stdout
        .trim()
        .split('\n')
        .sort();
    const before = await ids();
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, cageYaml(A, agentDir, { allow: ['Not A Domain'] }).replace('INET_IP', inet!.ip));
    const r = await agentcage(['cage', 'update', A, '-c', bad], state);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /spec\.egress\.allow\[0\]/);
    assert.deepEqual(await ids(), before);
    assert.equal((await client<Reply>(A, ['request', 'GET', 'https://api.example.test/'])).status, 200);
  });

  it('update with a changed file replaces only the pods that changed, and the new policy holds', async () => {
    const ids = async () =>
      Object.fromEntries(
        (await podman(['ps', '--filter', `name=^${A}-`, '--format', '{{.Names}} {{.ID}}'])).stdout
          .trim()
          .split('\n')
          .map((l) => l.split(' ')),
      ) as Record<string, string>;
    const before = await ids();
    const file = join(dir, 'narrower.yaml');
    writeFileSync(file, cageYaml(A, agentDir, { allow: ['api.example.test'] }).replace('INET_IP', inet!.ip));
    const r = await agentcage(['cage', 'update', A, '-c', file], state);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`updated: pod ${A}-dns, pod ${A}-proxy$`, 'm'));
    const after = await ids();
    assert.equal(after[`${A}-agent-agent`], before[`${A}-agent-agent`], 'the agent was restarted');
    assert.notEqual(after[`${A}-proxy-proxy`], before[`${A}-proxy-proxy`]);
    const dig = await inAgent(A, 'dig +short +time=2 +tries=1 other.example.test');
    assert.equal(dig.stdout.trim(), '198.51.100.1');
    assert.equal((await client<Reply>(A, ['request', 'GET', 'https://other.example.test/'])).status, 403);
    assert.equal((await client<Reply>(A, ['request', 'GET', 'https://api.example.test/'])).status, 200);
    // The placeholder survives an update: the agent keeps working with what it holds.
    assert.equal((await inAgent(A, 'printf %s "$API_KEY"')).stdout, placeholder);
  });

  it("cage har gives the captured flows as HAR, and cage logs the pods' logs", async () => {
    await client<Reply>(A, ['request', 'GET', 'https://evil.example.com/har-check']);
    const har = await agentcage(['cage', 'har', A], state);
    assert.equal(har.code, 0, har.stderr);
    const entries = (
      JSON.parse(har.stdout) as {
        log: { entries: { request: { url: string }; response: { status: number } }[] };
      }
    ).log.entries;
    assert.ok(
      entries.some(
        (e) => e.request.url === 'https://evil.example.com/har-check' && e.response.status === 403,
      ),
      JSON.stringify(entries.map((e) => e.request.url)),
    );
    assert.ok(!har.stdout.includes(REAL));
    const logs = await agentcage(['cage', 'logs', A, '--pod', 'proxy', '--tail', '50'], state);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /"host":"evil\.example\.com"/);
    const bad = await agentcage(['cage', 'logs', A, '--pod', 'nope'], state);
    assert.match(bad.stderr, /--pod nope: choose one of dns, proxy, agent/);
  });

  it('a create that fails part-way removes what it made and says what failed', async () => {
    const name = `e2e-f-${ID}`;
    const r = await create(name, cageYaml(name, agentDir, { agentCommand: ['sh', '-c', 'exit 3'] }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /failed at agent pod .*(exited with code 3|kept exiting)/);
    assert.match(r.stderr, /cleaned up: .*pod .*network/);
    const pods = (await podman(['pod', 'ps', '--format', '{{.Name}}'])).stdout;
    assert.ok(!pods.includes(name), pods);
    const nets = (await podman(['network', 'ls', '--format', '{{.Name}}'])).stdout;
    assert.ok(!nets.includes(name), nets);
    assert.ok(!store().exists(name));
  });

  describe('two cages side by side', () => {
    let addrB: Addresses;
    before(async function () {
      this.timeout(120_000);
      const r = await create(B, cageYaml(B, agentDir));
      assert.equal(r.code, 0, r.stdout + r.stderr);
      addrB = addresses(B);
    });

    it('do not reach each other', async () => {
      assert.notEqual(
        addrA.agent.split('.').slice(0, 3).join('.'),
        addrB.agent.split('.').slice(0, 3).join('.'),
      );
      const probe = (from: string, to: Addresses) =>
        inAgent(
          from,
          `for h in ${to.proxy}:3128 ${to.dns}:53 ${to.agent}:22; do node -e "const [h,p]=process.argv[1].split(':');require('net').connect(+p,h).on('error',e=>console.log(e.code)).on('connect',()=>console.log('CONNECTED'))" $h; done`,
        );
      for (const [from, to] of [
        [A, addrB],
        [B, addrA],
      ] as const) {
        const r = await probe(from, to);
        assert.deepEqual(
          r.stdout.trim().split('\n'),
          ['ENETUNREACH', 'ENETUNREACH', 'ENETUNREACH'],
          `${from}: ${r.stdout}${r.stderr}`,
        );
      }
      // Each still reaches its own proxy.
      assert.equal((await client<Reply>(B, ['request', 'GET', 'https://api.example.test/'])).status, 200);
    });

    it("do not share volumes: a file in A's /tmp is not in B's", async () => {
      const marker = `/tmp/marker-${ID}`;
      await inAgent(A, `echo secret-of-a > ${marker}`);
      assert.equal((await inAgent(A, `cat ${marker}`)).stdout, 'secret-of-a\n');
      const inB = await inAgent(B, `cat ${marker}; echo "rc=$?"`);
      assert.match(inB.stdout, /rc=1/);
      assert.ok(!inB.stdout.includes('secret-of-a'));
    });

    it('cage destroy leaves no pod, network, secret, volume, host rule or state behind', async () => {
      const egressMac = async () => {
        const [n] = await podmanJson<NetworkInfo[]>(['network', 'inspect', 'agentcage-egress']);
        return /link\/ether (\S+)/.exec(
          (await run('ip', ['-o', 'link', 'show', 'dev', n.network_interface!])).stdout,
        )?.[1];
      };
      const macBefore = await egressMac();
      const r = await agentcage(['cage', 'destroy', B], state);
      assert.equal(r.code, 0, r.stderr);
      const has = async (args: string[]) =>
        (await podman(args)).stdout.split('\n').filter((l) => l.includes(B));
      assert.deepEqual(await has(['ps', '-a', '--format', '{{.Names}}']), []);
      assert.deepEqual(await has(['pod', 'ps', '--format', '{{.Name}}']), []);
      assert.deepEqual(await has(['network', 'ls', '--format', '{{.Name}}']), []);
      assert.deepEqual(await has(['secret', 'ls', '--format', '{{.Name}}']), []);
      assert.deepEqual(await has(['volume', 'ls', '--format', '{{.Name}}']), []);
      for (const cmd of ['iptables', 'ip6tables']) {
        const rules = (await run(cmd, ['-S'])).stdout;
        assert.ok(!rules.includes(`agentcage:${B}`), rules);
      }
      assert.ok(!store().exists(B));
      // A is untouched, and so is the shared egress bridge's MAC (its gateway's ARP entry stays valid).
      const first = await client<Reply>(A, ['request', 'GET', 'https://api.example.test/']);
      const tail =
        first.status === 200 ? '' : (await podman(['logs', '--tail', '5', `${A}-proxy-proxy`])).stdout;
      assert.equal(await egressMac(), macBefore);
      assert.equal(first.status, 200, `${JSON.stringify(first)}\n${tail}`);
    });
  });
});
