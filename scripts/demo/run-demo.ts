// `make demo`, after the machine is ready (scripts/demo.sh): a stand-in internet, a demo cage made
// with the agentcage CLI, a scripted agent inside it, the proxy's decisions as a table, cleanup.
// Everything lives on this machine: the "internet" is one container on its own podman network.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle, startInternet, type Internet } from '../../test/e2e/support/internet.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CAGE = 'demo';
const REAL_KEY = `sk-demo-${randomBytes(16).toString('hex')}`;

function cli(args: string[], state: string, quiet = false): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'bin/agentcage.js'), ...args], {
      cwd: REPO,
      env: { ...process.env, AGENTCAGE_STATE_DIR: state },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let atLineStart = true;
    child.stdout.on('data', (d: Buffer) => {
      const text = d.toString();
      out += text;
      if (quiet) return;
      // Indent every line, also when a line arrives in several chunks.
      process.stdout.write((atLineStart ? '    ' : '') + text.replace(/\n(?=.)/g, '\n    '));
      atLineStart = text.endsWith('\n');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

function heading(s: string): void {
  console.log(`\n== ${s}`);
}

interface Step {
  step: string;
  status?: number;
  body?: string;
  error?: string;
  opened?: boolean;
  received?: string[];
  closed?: { code: number; reason: string };
}

function describeStep(s: Step, placeholder: string): string {
  const mask = (t: string) => t.split(REAL_KEY).join('<REAL KEY>').split(placeholder).join('<placeholder>');
  if (s.received !== undefined) {
    return `opened=${s.opened}; echoed back: ${JSON.stringify(s.received.map(mask))}; closed: ${s.closed ? `${s.closed.code} ${s.closed.reason}` : '-'}`;
  }
  let body = s.body ?? '';
  try {
    const j = JSON.parse(body) as {
      headers?: { authorization?: string };
      inspector?: string;
      reason?: string;
    };
    if (j.inspector) body = `blocked by ${j.inspector}: ${j.reason}`;
    else if (j.headers?.authorization) body = `upstream echoed authorization: ${j.headers.authorization}`;
  } catch {
    // a text body
  }
  if (!s.status && !s.error) return mask(body);
  return `HTTP ${s.status}${s.error ? ` (${s.error})` : ''}: ${mask(body).trim().slice(0, 160)}`;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'agentcage-demo-'));
  chmodSync(dir, 0o755);
  const state = join(dir, 'state');
  const agentDir = join(dir, 'agent');
  mkdirSync(agentDir, { mode: 0o755 });
  let inet: Internet | undefined;
  let created = false;
  try {
    heading(
      'stand-in internet: api.example.test (HTTPS, WebSocket, DNS) in its own podman network, with its own CA',
    );
    inet = await startInternet({
      names: ['api.example.test'],
      leak: REAL_KEY,
      prefix: 'agentcage-demo-inet',
    });
    console.log(`    ${inet.container} at ${inet.ip} on ${inet.network} (${inet.subnet})`);
    await bundle(join(REPO, 'test/e2e/support/agent-client.ts'), join(agentDir, 'agent-client.mjs'));

    const cageFile = join(dir, 'cage.yaml');
    writeFileSync(
      cageFile,
      `apiVersion: agentcage.io/v1alpha1
kind: Cage
metadata:
  name: ${CAGE}
spec:
  agent:
    image: localhost/agentcage-agent-demo:dev
    command: ["sleep", "infinity"]
    volumes:
      - { name: demo, mountPath: /demo, hostPath: ${agentDir}, readOnly: true }
  egress:
    allow: [api.example.test]
  dns:
    upstreams: ["${inet.ip}"]   # the stand-in internet answers DNS for api.example.test
  secrets:
    - name: API_KEY
      injectTo: [api.example.test]
      injectIn: [headers, websocket]
`,
    );
    heading(`agentcage cage create -c cage.yaml -s API_KEY=<a real key>   (egress: api.example.test only)`);
    const args = ['cage', 'create', '-c', cageFile, '-s', `API_KEY=${REAL_KEY}`];
    args.push(
      '--upstream-ca',
      inet.caFile,
      '--allow-private',
      inet.subnet,
      '--proxy-host',
      `api.example.test=${inet.ip}`,
    );
    const c = await cli(args, state);
    if (c.code !== 0) throw new Error('cage create failed (see above)');
    created = true;

    heading('the scripted agent, inside the cage (node, through HTTPS_PROXY, trusting the cage CA)');
    const ph = await cli(['cage', 'exec', CAGE, '--', 'printenv', 'API_KEY'], state, true);
    const placeholder = ph.out.trim();
    console.log(
      `    the agent's API_KEY is ${placeholder} (a placeholder; the real key never enters the cage)`,
    );
    const run = await cli(
      ['cage', 'exec', CAGE, '--', 'node', '/demo/agent-client.mjs', 'demo'],
      state,
      true,
    );
    for (const line of run.out.split('\n').filter((l) => l.startsWith('{'))) {
      const s = JSON.parse(line) as Step;
      console.log(`  - ${s.step}\n      ${describeStep(s, placeholder)}`);
    }
    const seen = (await inet.records()).filter((r) => r.kind === 'http' && r.url === '/v1/messages');
    const auth = String(seen[0]?.headers?.authorization ?? '(nothing arrived)');
    console.log(
      `  the upstream received: authorization: ${auth.replace(REAL_KEY, '<REAL KEY>')}` +
        (auth.includes(REAL_KEY) ? '   <- the proxy swapped the real key in on the way out' : ''),
    );
    const frames = (await inet.records()).filter((r) => r.kind === 'ws').map((r) => String(r.data));
    console.log(
      `  WebSocket frames the upstream received: ${JSON.stringify(frames.map((f) => f.split(REAL_KEY).join('<REAL KEY>')))}`,
    );

    heading('agentcage cage audit demo   (what the proxy and the resolver decided)');
    await cli(['cage', 'audit', CAGE], state);

    heading('agentcage cage verify demo');
    const v = await cli(['cage', 'verify', CAGE], state, true);
    console.log(
      v.out
        .split('\n')
        .filter((l) => /^(PASS|FAIL)/.test(l) || /passed, \d+ failed/.test(l))
        .map((l) => `    ${l}`)
        .join('\n'),
    );
  } finally {
    heading('cleaning up');
    if (created) await cli(['cage', 'destroy', CAGE], state);
    await inet?.stop();
    console.log(`    removed the stand-in internet ${inet?.network ?? ''}`);
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\ndemo finished in ${((Date.now() - t0) / 1000).toFixed(1)} s (after install and images)`);
}

main().catch((err) => {
  console.error(`demo failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
