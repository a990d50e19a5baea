// The rendered dnsmasq.conf run by a real dnsmasq on loopback, forwarding to a second dnsmasq that
// stands in for the internet's resolvers (it answers every name with documentation addresses).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cage } from '../../operator/api/cage.ts';
import { renderDnsmasq, type DnsmasqContext } from '../../operator/render/index.ts';
import { cage } from '../unit/render-helpers.ts';

const DNSMASQ = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq'].find(
  (p) => spawnSync(p, ['--version']).status === 0,
);
const UPSTREAM_V4 = '203.0.113.7';
const UPSTREAM_V6 = '2001:db8::7';

/** A loopback port free for both TCP and UDP (dnsmasq binds both). */
async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
      s.on('error', reject);
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free loopback port');
}

describe('rendered dnsmasq.conf in a real dnsmasq', function () {
  if (!DNSMASQ) {
    it.skip('dnsmasq is not installed (apt-get install dnsmasq-base)');
    return;
  }
  let dir: string;
  let upstreamPort: number;
  const procs: ChildProcess[] = [];

  async function start(conf: string): Promise<number> {
    const file = join(dir, `c${procs.length}.conf`);
    writeFileSync(file, conf);
    const p = spawn(
      DNSMASQ!,
      ['--keep-in-foreground', `--conf-file=${file}`, '--log-facility=-', '--pid-file='],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    procs.push(p);
    let log = '';
    p.stderr!.on('data', (d) => (log += d));
    const port = Number(/^port=(\d+)$/m.exec(conf)![1]);
    const r = resolver(port);
    for (let i = 0; i < 50; i++) {
      if (p.exitCode !== null) throw new Error(`dnsmasq exited: ${log}`);
      try {
        await r.resolve4('ready.probe');
        return port;
      } catch (e) {
        if ((e as { code?: string }).code !== 'ECONNREFUSED' && (e as { code?: string }).code !== 'ETIMEOUT')
          return port;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`dnsmasq did not answer: ${log}`);
  }

  function resolver(port: number): Resolver {
    const r = new Resolver({ timeout: 1000, tries: 1 });
    r.setServers([`127.0.0.1:${port}`]);
    return r;
  }

  async function serve(c: Cage, ctx: DnsmasqContext = {}): Promise<Resolver> {
    const port = await freePort();
    return resolver(await start(renderDnsmasq(c, { ...ctx, port, listenAddress: '127.0.0.1' })));
  }

  const cageWith = (egress: object, extra: object = {}) =>
    cage({
      agent: { image: 'busybox' },
      egress,
      dns: { upstreams: [`127.0.0.1#${upstreamPort}`] },
      ...extra,
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentcage-dnsmasq-'));
    upstreamPort = await freePort();
    await start(
      [`port=${upstreamPort}`, 'listen-address=127.0.0.1', 'bind-interfaces', 'no-resolv', 'no-hosts']
        .concat([`address=/#/${UPSTREAM_V4}`, `address=/#/${UPSTREAM_V6}`])
        .join('\n') + '\n',
    );
  });

  after(() => {
    for (const p of procs) p.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('allowlist: allowed names and their subdomains resolve upstream; others get the placeholders', async () => {
    const r = await serve(cageWith({ allow: ['allowed.example'] }));
    assert.deepEqual(await r.resolve4('allowed.example'), [UPSTREAM_V4]);
    assert.deepEqual(await r.resolve4('api.allowed.example'), [UPSTREAM_V4]);
    assert.deepEqual(await r.resolve6('allowed.example'), [UPSTREAM_V6]);
    assert.deepEqual(await r.resolve4('other.example'), ['198.51.100.1']);
    assert.deepEqual(await r.resolve6('other.example'), ['100::1']);
    assert.deepEqual(await r.resolve4('notallowed.example'), ['198.51.100.1'], 'a suffix is not a subdomain');
  });

  it('an empty policy answers every name with the placeholder', async () => {
    const r = await serve(cageWith({}));
    assert.deepEqual(await r.resolve4('anything.example'), ['198.51.100.1']);
  });

  it('blocklist: blocked names get the placeholders; the rest resolves upstream', async () => {
    const r = await serve(cageWith({ block: ['evil.example'] }));
    assert.deepEqual(await r.resolve4('x.evil.example'), ['198.51.100.1']);
    assert.deepEqual(await r.resolve6('evil.example'), ['100::1']);
    assert.deepEqual(await r.resolve4('fine.example'), [UPSTREAM_V4]);
  });

  it('transparent mode: allowed names resolve to the proxy; others still the placeholder', async () => {
    const c = cageWith({ allow: ['allowed.example'] }, { proxy: { mode: 'transparent' } });
    const r = await serve(c, { proxyIP: '127.0.0.3' });
    assert.deepEqual(await r.resolve4('allowed.example'), ['127.0.0.3']);
    assert.deepEqual(await r.resolve4('other.example'), ['198.51.100.1']);
  });

  it('an allowed entry past its expiry at ctx.now is no longer forwarded', async () => {
    const c = cageWith({
      allow: ['a.example', 'b.example'],
      expiry: { 'b.example': '2030-01-01T00:00:00Z' },
    });
    const r = await serve(c, { now: '2031-01-01T00:00:00Z' });
    assert.deepEqual(await r.resolve4('a.example'), [UPSTREAM_V4]);
    assert.deepEqual(await r.resolve4('b.example'), ['198.51.100.1']);
  });
});
