// Side-by-side proxy benchmark (method: shared/notes/proxy-bench-anchors.md). One run drives the
// same load through: direct (no proxy), agentcage's proxy (every inspector on, a secret to swap,
// audit on), mitmdump and squid. The proxy under test is pinned to core 1, load generator and
// upstream to core 0. Prints req/s, p50/p99 and RSS, and the ratios to mitmproxy and squid.
//
//   bench/proxy/run.sh [--duration SECONDS] [--only direct,agentcage,mitmproxy,squid] [--json FILE]
//
// Tools (Debian): apt-get install -y wrk hey mitmproxy squid. Loopback only.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync, chownSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleProxy } from '../../scripts/bundle-proxy.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

interface Args {
  duration: number;
  only: string[];
  json?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { duration: 10, only: ['direct', 'agentcage', 'mitmproxy', 'squid'] };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--duration') a.duration = Number(argv[++i]);
    else if (v === '--only') a.only = argv[++i].split(',');
    else if (v === '--json') a.json = argv[++i];
    else if (v === '-h' || v === '--help') {
      console.log(
        'bench/proxy/run.sh [--duration SECONDS] [--only direct,agentcage,mitmproxy,squid] [--json FILE]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${v}`);
  }
  if (!(a.duration >= 1 && a.duration <= 120)) throw new Error('--duration is 1..120 seconds');
  return a;
}

const have = (tool: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolvePort(p));
    });
  });
}

async function waitForPort(port: number, what: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        r(true);
      });
      c.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on ${port}`);
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', () => resolveRun(out));
  });
}

function ms(value: string, unit: string): number {
  const v = Number(value);
  return unit === 'us' ? v / 1000 : unit === 's' ? v * 1000 : v;
}

interface Result {
  rps: number;
  p50: number; // ms
  p99: number; // ms
  errors: number;
}

function parseWrk(out: string): Result {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const p = (q: string) => {
    const m = new RegExp(`\\s${q}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? ms(m[1], m[2]) : NaN;
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0;
  return { rps, p50: p('50'), p99: p('99'), errors: non2xx + socketErrors };
}

function parseHey(out: string): Result {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const p = (q: string) => {
    const m = new RegExp(`${q}% in ([\\d.]+) secs`).exec(out);
    return m ? Number(m[1]) * 1000 : NaN;
  };
  let ok = 0;
  let bad = 0;
  for (const m of out.matchAll(/\[(\d+)\]\s+(\d+) responses/g)) {
    if (m[1] === '200') ok += Number(m[2]);
    else bad += Number(m[2]);
  }
  const errs = /Error distribution:([\s\S]*)$/.exec(out)?.[1] ?? '';
  for (const m of errs.matchAll(/\[(\d+)\]/g)) bad += Number(m[1]);
  if (ok === 0) bad += 1;
  return { rps, p50: p('50'), p99: p('99'), errors: bad };
}

interface Scenario {
  id: string;
  label: string;
  run(proxy: string | undefined, up: { http: number; https: number }, d: number): Promise<Result>;
}

/** NODE_OPTIONS as the proxy image sets them (BENCH_PROXY_NODE_OPTIONS overrides, to try others). */
/** The image's runtime environment (its ENV lines: NODE_OPTIONS, malloc settings), so the run is the image's. */
function imageEnv(): Record<string, string> {
  const file = readFileSync(join(root, 'proxy-image/Containerfile'), 'utf8');
  const env: Record<string, string> = {};
  for (const m of file.matchAll(/^ENV (\w+)=(?:"([^"]*)"|(\S*))$/gm)) env[m[1]] = m[2] ?? m[3];
  if (process.env.BENCH_PROXY_NODE_OPTIONS !== undefined)
    env.NODE_OPTIONS = process.env.BENCH_PROXY_NODE_OPTIONS;
  return env;
}

/**
 * The image's environment, without node's settings from this shell, which the image does not
 * have: NODE_EXTRA_CA_CERTS (set on these machines) makes node parse a whole CA bundle at start,
 * about 1 MB of RSS.
 */
function imageOnlyEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of Object.keys(process.env)) if (k.startsWith('NODE_')) env[k] = undefined;
  return { ...env, ...imageEnv() };
}

const LOAD_CORE = '0';
const PROXY_CORE = '1';

const wrk =
  (conns: number, path: string): Scenario['run'] =>
  async (proxy, up, d) => {
    const target = `http://127.0.0.1:${up.http}${path}`;
    const common = ['-c', LOAD_CORE, 'wrk', '-t1', `-c${conns}`, `-d${d}s`, '--latency'];
    const out = proxy
      ? await run('taskset', [...common, '-s', join(here, 'proxy.lua'), proxy], { TARGET: target })
      : await run('taskset', [...common, target]);
    return parseWrk(out);
  };

const hey =
  (conns: number, path: string, extra: string[] = []): Scenario['run'] =>
  async (proxy, up, d) => {
    const args = ['-c', LOAD_CORE, 'hey', '-z', `${d}s`, '-c', String(conns), ...extra];
    if (proxy) args.push('-x', proxy);
    args.push(`https://127.0.0.1:${up.https}${path}`);
    return parseHey(await run('taskset', args));
  };

/** Sequential requests on one connection, timed to the microsecond (latency.mjs). */
const sequential =
  (path: string): Scenario['run'] =>
  async (proxy, up, d) => {
    const args = ['-c', LOAD_CORE, process.execPath, join(here, 'latency.mjs')];
    args.push('--target', `https://127.0.0.1:${up.https}${path}`, '--duration', String(d));
    if (proxy) args.push('--proxy', proxy);
    const out = await run('taskset', args);
    const line = out.trim().split('\n').at(-1) ?? '';
    try {
      return JSON.parse(line) as Result;
    } catch {
      return { rps: 0, p50: NaN, p99: NaN, errors: 1 };
    }
  };

const SCENARIOS: Scenario[] = [
  { id: 'http-1k-50', label: 'HTTP 1 KiB, 50 conns', run: wrk(50, '/1k') },
  { id: 'http-64k-50', label: 'HTTP 64 KiB, 50 conns', run: wrk(50, '/64k') },
  { id: 'http-1k-1', label: 'HTTP 1 KiB, 1 conn', run: wrk(1, '/1k') },
  { id: 'https-1k-50', label: 'HTTPS 1 KiB, 50 conns', run: hey(50, '/1k') },
  { id: 'https-64k-50', label: 'HTTPS 64 KiB, 50 conns', run: hey(50, '/64k') },
  // hey's latencies come in 0.1 ms steps: this row uses latency.mjs (same client for every proxy).
  { id: 'https-1k-1', label: 'HTTPS 1 KiB, 1 conn', run: sequential('/1k') },
  { id: 'https-newconn', label: 'HTTPS new conn/request, 10', run: hey(10, '/1k', ['-disable-keepalive']) },
];

interface Target {
  name: string;
  note: string;
  start(): Promise<{ url?: string; pid?: number; stop(): Promise<void> }>;
}

function spawnPinned(
  cmd: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = {},
): ChildProcess {
  const child = spawn('taskset', ['-c', PROXY_CORE, cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let log = '';
  const keep = (c: Buffer) => {
    log += c.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('close', () => writeFileSync(logFile, log));
  return child;
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null) return r();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('close', () => {
      clearTimeout(t);
      r();
    });
    child.kill('SIGTERM');
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const missing = ['wrk', 'hey', 'taskset', 'openssl'].filter((t) => !have(t));
  if (missing.length) {
    console.error(`missing ${missing.join(', ')}: apt-get install -y wrk hey util-linux openssl`);
    process.exit(2);
  }
  if (execFileSync('nproc', { encoding: 'utf8' }).trim() === '1')
    console.error('warning: one core: pinning is moot');
  const dir = join(root, '.bench', `proxy-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777); // squid drops to its own user and writes its pid/log here

  // Upstream certificate for 127.0.0.1, then the upstream itself on the load core.
  const upCrt = join(dir, 'upstream.crt');
  const upKey = join(dir, 'upstream.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', upKey, '-out', upCrt], { stdio: 'ignore' }); // prettier-ignore
  const upstream = spawn(
    'taskset',
    ['-c', LOAD_CORE, process.execPath, join(here, 'upstream.mjs'), upCrt, upKey],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const up = await new Promise<{ http: number; https: number }>((r) =>
    upstream.stdout!.once('data', (c: Buffer) => r(JSON.parse(c.toString()))),
  );

  const targets: Target[] = [
    {
      name: 'direct',
      note: 'no proxy',
      start: async () => ({ stop: async () => {} }),
    },
    {
      name: 'agentcage',
      note: 'every inspector on, intercepting',
      start: async () => {
        const bundle = await bundleProxy(join(dir, 'proxy')); // as scripts/build-images.sh does
        const secret = join(dir, 'API_KEY');
        writeFileSync(secret, 'sk-bench-real-value-0123456789abcdef');
        const policy = join(dir, 'policy.json');
        writeFileSync(
          policy,
          JSON.stringify({
            version: 1,
            cage: 'bench',
            mode: 'explicit',
            egress: {
              mode: 'allowlist',
              rules: [{ domain: '127.0.0.1' }],
              passthrough: [],
              ports: [up.http, up.https],
            },
            // A secret to swap: the injector and the streaming redactor run on every request.
            secrets: [
              {
                name: 'API_KEY',
                placeholder: 'agentcage-ph-00112233445566778899aabbccddeeff',
                valueFrom: { file: secret },
                injectTo: ['api.example.com'],
                injectIn: ['headers', 'url', 'body', 'websocket'],
              },
            ],
            inspectors: {}, // defaults: every built-in inspector enabled
            rateLimit: { enabled: true, requestsPerSecond: 1e9, burst: 1e9 },
            logging: { allowedRequests: true },
            capture: {},
            ssrf: { allowCidrs: ['127.0.0.0/8'] },
            upstream: { extraCaFile: upCrt },
          }),
        );
        const port = await freePort();
        const child = spawnPinned(
          // BENCH_PROXY_NODE: another node binary for the proxy (to compare node releases).
          process.env.BENCH_PROXY_NODE ?? process.execPath,
          [bundle, '--policy', policy, '--listen', `127.0.0.1:${port}`, '--metrics', '127.0.0.1:0',
            '--ca-dir', join(dir, 'ca'), '--audit', join(dir, 'audit.jsonl')], // prettier-ignore
          join(dir, 'agentcage.log'),
          // The image's heap settings (proxy-image/Containerfile), so the figures are the image's.
          imageOnlyEnv(),
        );
        await waitForPort(port, 'agentcage proxy');
        return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => stopChild(child) };
      },
    },
    {
      name: 'mitmproxy',
      note: 'mitmdump, intercepting',
      start: async () => {
        if (!have('mitmdump')) throw new Error('mitmdump missing: apt-get install -y mitmproxy');
        const port = await freePort();
        const conf = join(dir, 'mitm');
        mkdirSync(conf, { recursive: true });
        const child = spawnPinned(
          'mitmdump',
          ['--listen-host', '127.0.0.1', '--listen-port', String(port), '--set', 'flow_detail=0', '--set',
            `confdir=${conf}`, '--set', `ssl_verify_upstream_trusted_ca=${upCrt}`], // prettier-ignore
          join(dir, 'mitmdump.log'),
        );
        await waitForPort(port, 'mitmdump', 30000);
        return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => stopChild(child) };
      },
    },
    {
      name: 'squid',
      note: 'HTTPS tunnelled, not intercepted',
      start: async () => {
        if (!have('squid')) throw new Error('squid missing: apt-get install -y squid');
        const port = await freePort();
        const sq = join(dir, 'squid');
        mkdirSync(sq, { recursive: true });
        try {
          const pw = execFileSync('id', ['-u', 'proxy'], { encoding: 'utf8' }).trim();
          chownSync(sq, Number(pw), Number(pw));
        } catch {
          chmodSync(sq, 0o777);
        }
        const conf = join(sq, 'squid.conf');
        writeFileSync(
          conf,
          [
            `http_port 127.0.0.1:${port}`,
            'acl localhost_src src 127.0.0.0/8',
            'http_access allow localhost_src',
            'http_access deny all',
            'access_log none',
            'cache_store_log none',
            'cache deny all',
            'cache_mem 8 MB',
            `pid_filename ${join(sq, 'squid.pid')}`,
            `cache_log ${join(sq, 'cache.log')}`,
            `coredump_dir ${sq}`,
            'shutdown_lifetime 1 seconds',
            '',
          ].join('\n'),
        );
        const child = spawnPinned('squid', ['-N', '-f', conf], join(dir, 'squid.log'));
        await waitForPort(port, 'squid');
        return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => stopChild(child) };
      },
    },
  ];

  const results: Record<string, Record<string, Result>> = {};
  const rss: Record<string, { load: number; after: number }> = {};
  try {
    for (const t of targets.filter((x) => args.only.includes(x.name))) {
      let handle: Awaited<ReturnType<Target['start']>>;
      try {
        handle = await t.start();
      } catch (e) {
        console.error(`${t.name}: skipped (${(e as Error).message})`);
        continue;
      }
      results[t.name] = {};
      let peak = 0;
      const sampler = handle.pid
        ? setInterval(() => (peak = Math.max(peak, rssMb(handle.pid!))), 200)
        : undefined;
      try {
        for (const s of SCENARIOS) {
          const r = await s.run(handle.url, up, args.duration);
          results[t.name][s.id] = r;
          console.error(
            `${t.name.padEnd(10)} ${s.label.padEnd(28)} ${r.rps.toFixed(0).padStart(8)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms${r.errors ? `  ERRORS ${r.errors}` : ''}${handle.pid ? `  RSS so far ${peak.toFixed(0)} MB` : ''}`,
          );
        }
      } finally {
        if (sampler) clearInterval(sampler);
      }
      if (handle.pid) {
        await new Promise((r) => setTimeout(r, 3000));
        rss[t.name] = { load: peak, after: rssMb(handle.pid) };
      }
      await handle.stop();
    }
  } finally {
    upstream.kill('SIGTERM');
  }

  // ---- report ----
  const names = Object.keys(results);
  const cell = (r: Result | undefined) =>
    r
      ? `${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms${r.errors ? ` (${r.errors} errors)` : ''}`
      : '-';
  console.log(
    `\nProxy benchmark, ${args.duration} s per run, proxy on core ${PROXY_CORE}, load+upstream on core ${LOAD_CORE}`,
  );
  const env = Object.entries(imageEnv()).map(([k, v]) => `${k}="${v}"`);
  console.log(
    `agentcage runs with the image's environment: ${env.join(' ')} (proxy-image/Containerfile; no other NODE_* variable)` +
      (process.env.BENCH_PROXY_NODE ? `, on ${process.env.BENCH_PROXY_NODE}` : ''),
  );
  console.log(
    `load average at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );
  console.log(
    `node ${process.version}; ${names.map((n) => `${n}: ${targets.find((t) => t.name === n)?.note}`).join('; ')}\n`,
  );
  console.log(`| scenario | ${names.join(' | ')} |`);
  console.log(`|---|${names.map(() => '---').join('|')}|`);
  for (const s of SCENARIOS)
    console.log(`| ${s.label} | ${names.map((n) => cell(results[n]?.[s.id])).join(' | ')} |`);
  console.log(
    `| RSS peak under load / 3 s after | ${names.map((n) => (rss[n] ? `${rss[n].load.toFixed(0)} MB / ${rss[n].after.toFixed(0)} MB` : '-')).join(' | ')} |`,
  );
  const ours = results.agentcage;
  if (ours) {
    console.log('\nagentcage vs the others (throughput ratio; added p50 latency at 1 connection vs direct):');
    for (const peer of ['mitmproxy', 'squid']) {
      if (!results[peer]) continue;
      const ratios = SCENARIOS.map((s) => {
        const a = ours[s.id];
        const b = results[peer][s.id];
        return a && b && b.rps > 0 ? `${s.id} x${(a.rps / b.rps).toFixed(2)}` : `${s.id} -`;
      });
      console.log(`  vs ${peer}: ${ratios.join(', ')}`);
    }
    const d = results.direct;
    if (d) {
      for (const id of ['http-1k-1', 'https-1k-1']) {
        console.log(`  added p50 at 1 conn (${id}): ${(ours[id].p50 - d[id].p50).toFixed(3)} ms`);
      }
    }
  }
  if (args.json) writeFileSync(args.json, JSON.stringify({ duration: args.duration, results, rss }, null, 2));
  console.log(`\nlogs and files: ${dir}`);
  if (!existsSync(dir)) process.exitCode = 1;
}

main().catch((e: Error) => {
  console.error(`bench/proxy: ${e.message}`);
  process.exit(1);
});
