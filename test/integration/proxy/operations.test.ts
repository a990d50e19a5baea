// Running the proxy: metrics (checked by promtool), health endpoints, policy reload without
// dropping connections, HAR capture, the CA from a directory, and the real entry point (the
// esbuild bundle the image runs) refusing bad policies and flushing its audit log on SIGTERM.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { basename, dirname, join } from 'node:path';
import { bundleFiles, bundleProxy, loadedAtStart } from '../../../scripts/bundle-proxy.ts';
import { parsePolicy } from '../../../operator/api/policy.ts';
import { ValidationError } from '../../../operator/api/validation.ts';
import { checkPolicyInChild } from '../../../proxy-image/src/policy/isolated-parse.ts';
import { ProxyServer } from '../../../proxy-image/src/proxy/server.ts';
import { silentLogger } from '../../../proxy-image/src/log.ts';
import {
  curl,
  jsonBody,
  PLACEHOLDER,
  policyDoc,
  REAL_KEY,
  sharedUpstream,
  startRig,
  tempDir,
} from './harness.ts';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Waits (bounded) until `cond` holds; no timing is asserted, only the eventual state. */
async function until(cond: () => boolean, what: string, maxMs = 10000): Promise<void> {
  const end = Date.now() + maxMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const hasPromtool = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).status === 0;

describe('proxy operations', function () {
  this.timeout(60000);
  const shared = sharedUpstream();
  const rig = shared.rig;

  it('metrics on their own port pass `promtool check metrics` on a real scrape', async function () {
    if (!hasPromtool) {
      // CI installs it (scripts/install-system-deps.sh): there, missing is a failure, not a skip.
      if (process.env.CI === 'true')
        assert.fail('promtool is missing: apt-get install -y --no-install-recommends prometheus');
      this.skip();
    }
    const r = await rig({ rateLimit: { enabled: true, requestsPerSecond: 0.01, burst: 1, perHost: {} } });
    await curl(['-x', r.proxyUrl, '--cacert', r.caPath, `https://api.test:${shared.up.httpsPort}/1k`]);
    await curl(['-x', r.proxyUrl, '--cacert', r.caPath, `https://api.test:${shared.up.httpsPort}/1k`]); // 429
    await curl(['-x', r.proxyUrl, `http://blocked.test:${shared.up.httpPort}/`]);
    const scrape = await get(r.proxy.ports.metrics!, '/metrics');
    assert.equal(scrape.status, 200);
    for (const name of [
      'agentcage_proxy_requests_total{decision="allow",scheme="https"} 1',
      'agentcage_proxy_requests_total{decision="rate_limited",scheme="https"} 1',
      'agentcage_proxy_requests_total{decision="block",scheme="http"} 1',
      'agentcage_proxy_bytes_total{direction="inbound"}',
      'agentcage_proxy_inspector_duration_seconds_bucket{le="0.001",inspector="domain"}',
      'agentcage_proxy_certificates_minted_total 1',
      'agentcage_proxy_rate_limited_total 1',
      'agentcage_proxy_open_connections{listener="forward"}',
      'process_resident_memory_bytes',
    ]) {
      assert.ok(scrape.body.includes(name), `missing ${name}`);
    }
    const check = spawnSync('promtool', ['check', 'metrics'], { input: scrape.body, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
    // And the proxy port never serves them to the agent.
    const fromAgentSide = await get(r.proxy.ports.proxy, '/metrics');
    assert.equal(fromAgentSide.status, 400);
  });

  it('--metrics-deny resets metrics connections from that network; other addresses are served', async () => {
    const r = await startRig({}, { metricsDeny: ['127.0.0.2/32'] }, { pki: shared.pki, up: shared.up });
    try {
      const m = r.proxy.ports.metrics!;
      const from = (localAddress: string) =>
        new Promise<string>((resolve) => {
          const req = http.get({ host: '127.0.0.1', port: m, path: '/metrics', localAddress }, (res) => {
            res.resume();
            resolve(String(res.statusCode));
          });
          req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        });
      // Reset before a byte is read (the request write may see the reset first).
      assert.match(await from('127.0.0.2'), /^(ECONNRESET|EPIPE)$/);
      assert.equal(await from('127.0.0.1'), '200'); // the allowed twin
      // The proxy port is not affected.
      const ok = await curl(['-x', r.proxyUrl, `http://api.test:${shared.up.httpPort}/1k`]);
      assert.equal(ok.status, 200);
    } finally {
      await r.close();
    }
    await assert.rejects(
      startRig({}, { metricsDeny: ['10.0.0.0/33'] }, { pki: shared.pki, up: shared.up }),
      /--metrics-deny: "10\.0\.0\.0\/33" is not a CIDR/,
    );
  });

  it('/healthz and /readyz answer; readyz turns 503 once shutdown begins', async () => {
    const r = await startRig({}, { shutdownGraceMs: 2000 }, { pki: shared.pki, up: shared.up });
    const m = r.proxy.ports.metrics!;
    assert.equal((await get(m, '/healthz')).status, 200);
    assert.equal((await get(m, '/readyz')).status, 200);
    // Keep a connection in flight so shutdown has to wait for it.
    const slow = curl(['-x', r.proxyUrl, `http://api.test:${shared.up.httpPort}/slow`]);
    await until(
      () =>
        r.proxy.state.generation === 1 && (r.proxy as unknown as { sockets: Set<unknown> }).sockets.size > 0,
      'the slow request',
    );
    const closing = r.close();
    assert.equal((await get(m, '/readyz')).status, 503);
    assert.equal((await slow).status, 200, 'the request in flight finished');
    await closing;
  });

  it('reloads a changed policy without dropping connections; an invalid one keeps the old policy', async () => {
    const r = await rig({}, { policyPollMs: 200 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const viaProxy = (host: string) =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = http.get(
          {
            host: '127.0.0.1',
            port: r.proxy.ports.proxy,
            path: `http://${host}:${shared.up.httpPort}/1k`,
            agent,
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
          },
        );
        req.on('error', reject);
      });
    try {
      assert.equal((await viaProxy('other.test')).status, 200);
      r.writePolicy({
        egress: {
          mode: 'allowlist',
          rules: [{ domain: 'api.test' }],
          passthrough: [],
          ports: [shared.up.httpPort],
        },
      });
      await until(() => r.proxy.state.generation === 2, 'the reload (fs.watch or the periodic stat)');
      const after = await viaProxy('other.test');
      assert.deepEqual(after, { status: 403, reused: true }, 'new rules, same connection');
      assert.equal((await viaProxy('api.test')).status, 200);

      writeFileSync(r.policyPath, '{"version": 1, "cage": ');
      assert.equal(await r.proxy.reload(), false);
      r.writePolicy({
        ...policyDoc(shared.up, { secretFile: 'x', extraCaFile: 'y' }),
        egress: { mode: 'nonsense' },
      } as never);
      assert.equal(await r.proxy.reload(), false);
      assert.equal(r.proxy.state.generation, 2, 'the last good policy stays in force');
      assert.equal((await viaProxy('api.test')).status, 200);
      const scrape = await get(r.proxy.ports.metrics!, '/metrics');
      assert.match(scrape.body, /agentcage_proxy_policy_reloads_total\{result="error"\} [1-9]/);
    } finally {
      agent.destroy();
    }
  });

  it('captures flows as HAR 1.2 in the agent view: placeholders, never the real value', async () => {
    const dir = tempDir();
    const harPath = join(dir, 'not-yet', 'flows.har'); // the directory is created, as /tmp/agentcage is
    const r = await rig({ capture: { har: true, minAction: 'allow' } }, { harPath });
    await curl([
      '-x',
      r.proxyUrl,
      '--cacert',
      r.caPath,
      '-H',
      `Authorization: Bearer ${PLACEHOLDER}`,
      '--data-binary',
      `body ${PLACEHOLDER}`,
      `https://api.test:${shared.up.httpsPort}/echo?q=1`,
    ]);
    await curl(['-x', r.proxyUrl, `http://blocked.test:${shared.up.httpPort}/nope`]);
    r.proxy.audit.flush();
    const text = readFileSync(harPath, 'utf8');
    interface Entry {
      startedDateTime: string;
      time: number;
      timings: object;
      request: { method: string; url: string; queryString: unknown; postData: { text: string } };
      response: { status: number; content: { text: string } };
      _agentcage: { inspector: string };
    }
    const har = JSON.parse(text) as { log: { version: string; entries: Entry[] } };
    assert.equal(har.log.version, '1.2');
    assert.equal(har.log.entries.length, 2);
    const [ok, blocked] = har.log.entries;
    assert.equal(ok.request.method, 'POST');
    assert.equal(ok.request.url, `https://api.test:${shared.up.httpsPort}/echo?q=1`);
    assert.deepEqual(ok.request.queryString, [{ name: 'q', value: '1' }]);
    assert.equal(ok.request.postData.text, `body ${PLACEHOLDER}`);
    assert.equal(ok.response.status, 200);
    assert.ok(ok.response.content.text.includes(PLACEHOLDER));
    assert.equal(blocked.response.status, 403);
    assert.equal(blocked._agentcage.inspector, 'domain');
    assert.ok(!text.includes(REAL_KEY), 'agent view holds no real value');
    assert.ok(typeof ok.startedDateTime === 'string' && typeof ok.time === 'number' && ok.timings);
  });

  it('records the on-the-wire view only when the policy asks, and warns that it holds real values', async () => {
    const dir = tempDir();
    const harPath = join(dir, 'wire.har');
    const warnings: string[] = [];
    const r = await rig(
      { capture: { har: true, minAction: 'allow', wireView: true } },
      { harPath, log: (level, msg) => void (level === 'warn' && warnings.push(msg)) },
    );
    await curl([
      '-x',
      r.proxyUrl,
      '-H',
      `Authorization: Bearer ${PLACEHOLDER}`,
      `http://api.test:${shared.up.httpPort}/echo`,
    ]);
    r.proxy.audit.flush();
    const har = JSON.parse(readFileSync(harPath, 'utf8')) as {
      log: {
        comment: string;
        entries: Array<{ request: { headers: Array<{ name: string; value: string }> } }>;
      };
    };
    assert.equal(har.log.comment, 'wire view');
    const auth = har.log.entries[0].request.headers.find((h) => h.name.toLowerCase() === 'authorization');
    assert.equal(auth?.value, `Bearer ${REAL_KEY}`, 'what actually went upstream');
    assert.ok(warnings.some((w) => /REAL SECRET VALUES/.test(w)));
    assert.ok(!readFileSync(r.auditPath, 'utf8').includes(REAL_KEY), 'the audit log still holds none');
  });

  it('uses the CA in --ca-dir (as the operator mounts it) and refuses a half-present one', async () => {
    const dir = tempDir();
    const caDir = join(dir, 'ca');
    mkdirSync(caDir);
    // An RSA CA made elsewhere (as an operator would), not by the proxy: openssl.
    const made = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=operator minted CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', join(caDir, 'ca.key'), '-out', join(caDir, 'ca.crt'),
    ], { encoding: 'utf8' }); // prettier-ignore
    assert.equal(made.status, 0, made.stderr);
    const r = await rig({}, { caDir });
    const res = await curl([
      '-x',
      r.proxyUrl,
      '--cacert',
      join(caDir, 'ca.crt'),
      '-v',
      `https://api.test:${shared.up.httpsPort}/1k`,
    ]);
    assert.equal(res.status, 200, res.stderr);
    assert.match(res.stderr, /issuer: CN=operator minted CA/);

    const half = join(dir, 'half');
    mkdirSync(half);
    writeFileSync(join(half, 'ca.crt'), readFileSync(join(caDir, 'ca.crt')));
    await assert.rejects(
      ProxyServer.start({
        policyPath: r.policyPath,
        listen: { host: '127.0.0.1', port: 0 },
        caDir: half,
        auditPath: join(dir, 'a.jsonl'),
        log: silentLogger,
      }),
      /ca\.crt but not ca\.key/,
    );
  });

  describe('the image entry point (esbuild bundle of proxy-image/src/main.ts)', () => {
    let bundle: string;
    let dir: string;
    before(async () => {
      dir = tempDir();
      // The same files scripts/build-images.sh puts in /app.
      bundle = await bundleProxy(join(dir, 'bundle'));
    });

    const run = (args: string[]): ChildProcess =>
      spawn(process.execPath, [bundle, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH },
      });

    it('--audit - (as the renderers run it): decisions on stdout as JSON lines, operational logs on stderr', async () => {
      const secretFile = join(dir, 'API_KEY2');
      writeFileSync(secretFile, REAL_KEY);
      const caFile = join(dir, 'upstream-ca2.crt');
      writeFileSync(caFile, shared.pki.caPem);
      const policy = join(dir, 'policy2.json');
      writeFileSync(policy, JSON.stringify(policyDoc(shared.up, { secretFile, extraCaFile: caFile })));
      const child = run([
        '--policy', policy, '--listen', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--ca-dir', join(dir, 'ca2'),
        '--audit', '-', '--resolve', 'api.test=127.0.0.1',
      ]); // prettier-ignore
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      try {
        await until(() => /"proxy ready"/.test(stderr), 'the proxy to start', 20000);
        const port = (
          JSON.parse(stderr.split('\n').find((l) => l.includes('"proxy ready"'))!) as {
            ports: { proxy: number };
          }
        ).ports.proxy;
        for (let i = 0; i < 3; i++) {
          const r = await curl([
            '-x',
            `http://127.0.0.1:${port}`,
            `http://api.test:${shared.up.httpPort}/1k`,
          ]);
          assert.equal(r.status, 200);
        }
        child.kill('SIGTERM');
        assert.equal(await exited, 0);
        const lines = stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.equal(lines.length, 3);
        assert.ok(lines.every((l) => l.decision === 'allow' && l.cage === 'test'));
        assert.ok(!stdout.includes('proxy ready'), 'operational logs stay off stdout');
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('refuses to start on an invalid policy, naming the field', async () => {
      const bad = join(dir, 'bad.json');
      writeFileSync(
        bad,
        JSON.stringify({ ...policyDoc(shared.up, { secretFile: 'x', extraCaFile: 'y' }), mode: 'sideways' }),
      );
      const res = spawnSync(process.execPath, [bundle, '--policy', bad, '--listen', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--ca-dir', join(dir, 'ca'), '--audit', join(dir, 'x.jsonl')], { encoding: 'utf8' }); // prettier-ignore
      assert.equal(res.status, 1);
      assert.match(res.stderr, /mode/);
    });

    it('checks the policy in a child running the bundle itself; the schema library never runs in the proxy', async () => {
      const doc = policyDoc(shared.up, { secretFile: join(dir, 'API_KEY3'), extraCaFile: join(dir, 'y') });
      assert.deepEqual(await checkPolicyInChild(doc, bundle), parsePolicy(doc));
      await assert.rejects(
        checkPolicyInChild({ ...doc, mode: 'sideways' }, bundle),
        (e: Error) => e instanceof ValidationError && /mode/.test(e.message),
      );
      // The running proxy's own thread: zod registers itself on globalThis when it is evaluated.
      const secretFile = join(dir, 'API_KEY3');
      writeFileSync(secretFile, REAL_KEY);
      const policy = join(dir, 'policy3.json');
      writeFileSync(policy, JSON.stringify({ ...doc, upstream: {} }));
      const probe = join(dir, 'probe.cjs');
      writeFileSync(
        probe,
        `process.on('SIGUSR2', () => process.stderr.write('zod in this thread: ' + ('__zod_globalRegistry' in globalThis) + '\\n'));\n`,
      );
      const child = spawn(process.execPath, ['--require', probe, bundle, '--policy', policy, '--listen', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--ca-dir', join(dir, 'ca3'), '--audit', join(dir, 'a3.jsonl')], { stdio: ['ignore', 'ignore', 'pipe'] }); // prettier-ignore
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      try {
        await until(() => /"proxy ready"/.test(stderr), 'the proxy to start', 20000);
        child.kill('SIGUSR2');
        await until(() => /zod in this thread: /.test(stderr), 'the probe to answer', 5000);
        assert.match(stderr, /zod in this thread: false/);
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('keeps zod and ws out of what the proxy loads at start: each is a chunk loaded only when used', () => {
      // V8 holds a loaded script's whole source: what node loads at start, the proxy carries.
      const outdir = dirname(bundle);
      const atStart = loadedAtStart(outdir);
      assert.ok(atStart.length >= 1 && atStart[0] === basename(bundle));
      const text = (f: string) => readFileSync(join(outdir, f), 'latin1');
      for (const [what, mark] of [
        ['zod', 'ZodError'],
        ['ws', 'Sec-WebSocket-Accept'],
      ]) {
        for (const f of atStart)
          assert.ok(!text(f).includes(mark), `${what} is in ${f}, which loads at start`);
        const lazy = bundleFiles(outdir).filter((f) => !atStart.includes(f) && text(f).includes(mark));
        assert.equal(lazy.length, 1, `${what} is in one chunk of its own`);
      }
    });

    it('serves, then on SIGTERM finishes the request in flight, flushes every decision and exits 0', async () => {
      const secretFile = join(dir, 'API_KEY');
      writeFileSync(secretFile, REAL_KEY);
      const caFile = join(dir, 'upstream-ca.crt');
      writeFileSync(caFile, shared.pki.caPem);
      const policy = join(dir, 'policy.json');
      writeFileSync(policy, JSON.stringify(policyDoc(shared.up, { secretFile, extraCaFile: caFile })));
      const audit = join(dir, 'audit.jsonl');
      const child = run([
        '--policy', policy, '--listen', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--ca-dir', join(dir, 'ca'),
        '--audit', audit, '--resolve', 'api.test=127.0.0.1', '--resolve', 'blocked.test=127.0.0.1',
      ]); // prettier-ignore
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      try {
        await until(() => /"proxy ready"/.test(stderr), 'the proxy to start', 20000);
        const ports = JSON.parse(stderr.split('\n').find((l) => l.includes('"proxy ready"'))!).ports as {
          proxy: number;
        };
        const proxyUrl = `http://127.0.0.1:${ports.proxy}`;
        const n = 25;
        const results = await Promise.all(
          Array.from({ length: n }, (_, i) =>
            curl(['-x', proxyUrl, `http://${i % 5 === 0 ? 'blocked' : 'api'}.test:${shared.up.httpPort}/1k`]),
          ),
        );
        assert.deepEqual(
          results.map((x) => x.status),
          Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 403 : 200)),
        );
        const slowSeen = () => shared.up.seen.filter((s) => s.path === '/slow').length;
        const slowBefore = slowSeen();
        const inFlight = curl(['-x', proxyUrl, `http://api.test:${shared.up.httpPort}/slow`]);
        await until(() => slowSeen() > slowBefore, 'the slow request to reach the upstream');
        child.kill('SIGTERM');
        const flight = await inFlight;
        assert.equal(flight.status, 200, `${flight.stderr} / ${stderr}`);
        assert.equal(await exited, 0, stderr);
        const lines = readFileSync(audit, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.equal(lines.length, n + 1, 'one line per decision, none lost');
        assert.equal(lines.filter((l) => l.decision === 'block').length, 5);
        assert.ok(lines.some((l) => l.path === '/slow' && l.status === 200));
        const blockBody = jsonBody(results[0].body);
        assert.equal(blockBody.inspector, 'domain');
      } finally {
        child.kill('SIGKILL');
      }
    });
  });
});
