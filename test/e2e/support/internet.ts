// Starts and removes the stand-in internet (internet-server.ts) for the demo and the e2e tests:
// its own podman network, its own CA, one container that answers HTTPS, WebSocket and DNS for
// the given names. Everything it creates is named with a random suffix and removed by stop().
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { issueServerCert, mintCa } from '../../../proxy-image/src/tls/ca.ts';
import { podman, podmanJson } from '../../../operator/controller/podman/exec.ts';

export const NODE_IMAGE = 'localhost/agentcage-agent-demo:dev';

export interface InternetRecord {
  kind: 'http' | 'ws' | 'dns' | 'ready';
  host?: string;
  method?: string;
  url?: string;
  headers?: Record<string, string | string[]>;
  body?: string;
  data?: string;
  name?: string;
}

export interface Internet {
  network: string;
  subnet: string;
  ip: string;
  container: string;
  names: string[];
  /** The CA that signed the upstream's certificate (the proxy must trust it). */
  caFile: string;
  dir: string;
  /** Everything the upstream logged so far, parsed. */
  records(): Promise<InternetRecord[]>;
  stop(): Promise<void>;
}

const here = fileURLToPath(new URL('.', import.meta.url));

/** Bundles a TypeScript entry (with its npm dependencies) into one ES module file. */
export async function bundle(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    external: ['bufferutil', 'utf-8-validate'],
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
}

export async function startInternet(opts: {
  names: string[];
  leak?: string;
  prefix?: string;
}): Promise<Internet> {
  const id = randomBytes(3).toString('hex');
  const network = `${opts.prefix ?? 'agentcage-inet'}-${id}`;
  const container = `${network}-host`;
  const dir = mkdtempSync(join(tmpdir(), 'agentcage-inet-'));
  const made: string[] = [];
  const stop = async () => {
    if (made.includes('container')) await podman(['rm', '-f', '-t', '0', container], { allowFail: true });
    if (made.includes('network')) await podman(['network', 'rm', '-f', network], { allowFail: true });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ca = mintCa(`agentcage stand-in internet ${id}`);
    const leaf = issueServerCert(ca, [...opts.names, ...opts.names.map((n) => `*.${n}`)]);
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'tls.crt'), leaf.certPem + ca.certPem);
    writeFileSync(join(dir, 'tls.key'), leaf.keyPem, { mode: 0o644 });
    await bundle(join(here, 'internet-server.ts'), join(dir, 'server.mjs'));

    await podman(['network', 'create', network]);
    made.push('network');
    const [net] = await podmanJson<{ subnets: { subnet: string }[] }[]>(['network', 'inspect', network]);
    const subnet = net.subnets[0].subnet;
    await podman([
      'run', '-d', '--pull=never', '--name', container, '--network', network,
      '--user', '0', '--cap-drop', 'ALL', '--cap-add', 'NET_BIND_SERVICE', '--read-only',
      '-v', `${dir}:/inet:ro`,
      '-e', `INET_NAMES=${opts.names.join(',')}`, '-e', `INET_LEAK=${opts.leak ?? ''}`,
      '--entrypoint', 'node', NODE_IMAGE, '/inet/server.mjs',
    ]); // prettier-ignore
    made.push('container');
    const ip = (
      await podman([
        'inspect',
        '--format',
        `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
        container,
      ])
    ).stdout.trim();
    const internet: Internet = {
      network,
      subnet,
      ip,
      container,
      names: opts.names,
      caFile: join(dir, 'ca.crt'),
      dir,
      records: async () => parseRecords((await podman(['logs', container])).stdout),
      stop,
    };
    for (let i = 0; !(await internet.records()).some((r) => r.kind === 'ready'); i++) {
      if (i > 100)
        throw new Error(
          `the stand-in internet ${container} did not start: ${(await podman(['logs', container])).stderr}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
    return internet;
  } catch (err) {
    await stop();
    throw err;
  }
}

export function parseRecords(text: string): InternetRecord[] {
  const out: InternetRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as InternetRecord);
    } catch {
      // a partial line while the server is writing
    }
  }
  return out;
}
