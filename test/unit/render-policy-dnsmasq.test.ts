import assert from 'node:assert/strict';
import { parsePolicy } from '../../operator/api/policy.ts';
import { validateCage } from '../../operator/api/load.ts';
import { RenderError, renderDnsmasq, renderPolicy } from '../../operator/render/index.ts';
import { cage, exampleCage, fullCage, PH } from './render-helpers.ts';

const lines = (conf: string) => conf.split('\n').filter((l) => l && !l.startsWith('#'));

describe('renderPolicy', () => {
  it('gives a document the proxy accepts, with expiry, passthrough, ports and secret sources', () => {
    const p = renderPolicy(fullCage(), { placeholders: { ANTHROPIC_API_KEY: PH(1) } });
    assert.deepEqual(parsePolicy(JSON.parse(JSON.stringify(p))), p);
    assert.equal(p.cage, 'full');
    assert.equal(p.mode, 'transparent');
    assert.deepEqual(p.egress, {
      mode: 'allowlist',
      rules: [
        { domain: 'api.anthropic.com' },
        { domain: 'github.com' },
        { domain: 'pypi.org', expiresAt: '2030-01-01T00:00:00Z' },
      ],
      passthrough: ['pypi.org'],
      ports: [443],
    });
    assert.deepEqual(p.secrets, [
      {
        name: 'ANTHROPIC_API_KEY',
        placeholder: PH(1),
        valueFrom: { file: '/run/agentcage/secrets/ANTHROPIC_API_KEY' },
        injectTo: ['api.anthropic.com'],
        injectIn: ['headers'],
      },
      {
        name: 'GITHUB_TOKEN',
        placeholder: PH(2),
        valueFrom: { file: '/run/agentcage/secrets/GITHUB_TOKEN' },
        injectTo: ['github.com'],
        injectIn: ['headers', 'url'],
      },
    ]);
    assert.deepEqual(p.ssrf.allowCidrs, []);
  });

  it('blocklist mode lists the blocked domains; env sources and test-only SSRF CIDRs come from the context', () => {
    const c = cage({
      agent: { image: 'busybox' },
      egress: { block: ['evil.example'] },
      secrets: [{ name: 'T', placeholder: PH(3), injectTo: ['a.example'] }],
    });
    const p = renderPolicy(c, {
      secretSource: 'env',
      ssrfAllowCidrs: ['10.89.0.0/24'],
      upstreamExtraCaFile: '/ca.pem',
    });
    assert.equal(p.egress.mode, 'blocklist');
    assert.deepEqual(p.egress.rules, [{ domain: 'evil.example' }]);
    assert.deepEqual(p.secrets[0].valueFrom, { env: 'AGENTCAGE_SECRET_T' });
    assert.deepEqual(p.ssrf.allowCidrs, ['10.89.0.0/24']);
    assert.equal(p.upstream.extraCaFile, '/ca.pem');
  });

  it('holds no real secret value, only where to read it', () => {
    const p = JSON.stringify(renderPolicy(exampleCage('basic.yaml')));
    assert.doesNotMatch(p, /"value"/);
  });
});

describe('renderDnsmasq', () => {
  it('allowlist: allowed names forwarded to each upstream, every other name the placeholders', () => {
    const conf = renderDnsmasq(exampleCage('basic.yaml'));
    assert.deepEqual(lines(conf), [
      'port=53',
      'no-resolv',
      'no-hosts',
      'log-queries',
      'server=/api.anthropic.com/1.1.1.1',
      'server=/api.anthropic.com/9.9.9.9',
      'address=/#/198.51.100.1',
      'address=/#/100::1',
    ]);
  });

  it('an empty policy forwards nothing', () => {
    const l = lines(renderDnsmasq(cage({ agent: { image: 'busybox' } })));
    assert.ok(!l.some((x) => x.startsWith('server=')));
    assert.ok(l.includes('address=/#/198.51.100.1') && l.includes('address=/#/100::1'));
  });

  it('blocklist: upstreams for everything, placeholders for the blocked names (A and AAAA)', () => {
    const c = cage({
      agent: { image: 'busybox' },
      egress: { block: ['evil.example', 'paste.example'] },
      dns: { upstreams: ['9.9.9.9#5353'], placeholderIPv4: '192.0.2.7', placeholderIPv6: '2001:db8::7' },
      logging: { dnsQueries: false },
    });
    assert.deepEqual(lines(renderDnsmasq(c, { port: 5353 })), [
      'port=5353',
      'no-resolv',
      'no-hosts',
      'server=9.9.9.9#5353',
      'address=/evil.example/192.0.2.7',
      'address=/evil.example/2001:db8::7',
      'address=/paste.example/192.0.2.7',
      'address=/paste.example/2001:db8::7',
    ]);
  });

  it('leaves out entries whose expiry has passed at ctx.now (and keeps them without a clock)', () => {
    const c = cage({
      agent: { image: 'busybox' },
      egress: { allow: ['a.example', 'b.example'], expiry: { 'b.example': '2030-01-01T00:00:00Z' } },
    });
    const has = (conf: string, d: string) => conf.includes(`server=/${d}/`);
    assert.ok(has(renderDnsmasq(c), 'b.example'));
    assert.ok(has(renderDnsmasq(c, { now: '2029-12-31T23:59:59Z' }), 'b.example'));
    const after = renderDnsmasq(c, { now: new Date('2030-01-01T00:00:00Z') });
    assert.ok(!has(after, 'b.example') && has(after, 'a.example'));
    assert.throws(() => renderDnsmasq(c, { now: 'yesterday' }), RenderError);
  });

  it('transparent mode: allowed names resolve to the proxy when its address is known', () => {
    const c = fullCage();
    const conf = renderDnsmasq(c, { proxyIP: '10.213.1.3', listenAddress: '10.213.1.2' });
    const l = lines(conf);
    assert.ok(l.includes('address=/api.anthropic.com/10.213.1.3'));
    assert.ok(
      !l.some((x) => x.startsWith('server=')),
      'nothing forwarded: allowed names are answered locally',
    );
    assert.deepEqual(l.slice(1, 3), ['listen-address=10.213.1.2', 'bind-interfaces']);
    // Without the proxy's address, names resolve normally (NAT still redirects 80/443).
    assert.ok(lines(renderDnsmasq(c)).includes('server=/api.anthropic.com/1.1.1.1'));
    assert.throws(() => renderDnsmasq(c, { proxyIP: '10.213.1.3\nserver=8.8.8.8' }), RenderError);
  });

  it('no Cage value can add a line: placeholder addresses are validated as addresses', () => {
    const r = validateCage({
      apiVersion: 'agentcage.io/v1alpha1',
      kind: 'Cage',
      metadata: { name: 'x' },
      spec: { agent: { image: 'busybox' }, dns: { placeholderIPv4: '198.51.100.1\nserver=8.8.8.8' } },
    });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.problems.some((p) => p.path === 'spec.dns.placeholderIPv4'));
  });
});
