// cage verify's pure parts: what the probe tries, and how /proc facts become PASS/FAIL.
import assert from 'node:assert/strict';
import { loadCage } from '../../../operator/api/load.ts';
import { cageAddresses } from '../../../operator/render/subnet.ts';
import { hostRules } from '../../../operator/controller/podman/hostfw.ts';
import {
  formatChecks,
  listeningPorts,
  probeConfig,
  processChecks,
  procHexV4,
} from '../../../operator/controller/podman/verify.ts';

const yaml = (egress: string) => `
apiVersion: agentcage.io/v1alpha1
kind: Cage
metadata: { name: v }
spec:
  agent: { image: localhost/agent:1 }
  egress: ${egress}
  dns: { upstreams: ["10.89.1.2#53"] }
`;

const ZERO = '0000000000000000';
const goodStatus = {
  CapInh: ZERO,
  CapPrm: ZERO,
  CapEff: ZERO,
  CapAmb: ZERO,
  CapBnd: ZERO,
  NoNewPrivs: '1',
  Seccomp: '2',
};
const roMounts = 'overlay / overlay ro,relatime,lowerdir=/x 0 0\nproc /proc proc rw 0 0\n';

describe('cage verify (pure parts)', () => {
  it('reads the host listening ports from /proc/net/tcp: wildcard and gateway binds, LISTEN only', () => {
    const tcp = [
      '  sl  local_address rem_address   st',
      '   0: 00000000:0016 00000000:0000 0A 00000000:00000000',
      `   1: ${procHexV4('10.213.5.1')}:0050 00000000:0000 0A 00000000:00000000`,
      '   2: 0100007F:0277 00000000:0000 0A 00000000:00000000', // loopback only: not reachable from a bridge
      '   3: 00000000:1F90 0100007F:9C40 01 00000000:00000000', // established, not listening
    ].join('\n');
    assert.deepEqual(listeningPorts(tcp, [procHexV4('10.213.5.1')]), [22, 80]);
    assert.equal(procHexV4('10.213.5.1'), '01 05 D5 0A'.replace(/ /g, ''));
  });

  it('allowlist: probes a random .invalid name, sends the fake secret to the first allowed host, tries the upstream directly', () => {
    const cfg = probeConfig(loadCage(yaml('{ allow: [api.example.test] }')), cageAddresses('10.213.5.0/24'), {
      hostPorts: [22, 8080],
      linkLocal: 'fe80::1',
      random: 'r1',
    });
    assert.equal(cfg.blockedName, 'agentcage-verify-r1.invalid');
    assert.equal(cfg.secretHost, 'api.example.test');
    assert.deepEqual(cfg.proxy, { host: '10.213.5.3', port: 3128 });
    assert.equal(cfg.resolver, '10.213.5.2');
    assert.deepEqual(
      cfg.direct.map((d) => `${d.host}:${d.port}`),
      ['10.89.1.2:443', '10.89.1.2:53'],
    );
    assert.deepEqual(
      cfg.hostServices.map((h) => `${h.host}:${h.port}`),
      ['10.213.5.1:22', '10.213.5.1:8080', 'fe80::1%eth0:22', 'fe80::1%eth0:8080'],
    );
  });

  it('blocklist: the non-permitted name is under a blocked domain, and no allowed host receives the fake secret', () => {
    const cfg = probeConfig(loadCage(yaml('{ block: [evil.example.com] }')), cageAddresses('10.213.5.0/24'), {
      hostPorts: [],
      random: 'r2',
    });
    assert.equal(cfg.blockedName, 'agentcage-verify-r2.evil.example.com');
    assert.equal(cfg.secretHost, cfg.blockedName);
    assert.deepEqual(
      cfg.hostServices.map((h) => h.port),
      [22],
    );
  });

  it('passes a hardened agent whose env holds placeholders only', () => {
    const env = new Map([
      ['API_KEY', 'agentcage-ph-1'],
      ['PATH', '/usr/bin'],
    ]);
    const r = processChecks(goodStatus, roMounts, env, ['sk-real-value'], { API_KEY: 'agentcage-ph-1' });
    assert.deepEqual(
      r.map((c) => [c.check, c.ok]),
      [
        ['capabilities are zero', true],
        ['no-new-privileges set', true],
        ['root filesystem read-only', true],
        ['the agent holds no real secret value', true],
      ],
    );
  });

  it('fails each broken property and says what it found, never printing a real value', () => {
    const env = new Map([
      ['API_KEY', 'agentcage-ph-1'],
      ['SNEAKY', 'prefix-sk-real-value'],
    ]);
    const r = processChecks(
      { ...goodStatus, CapEff: '00000000a80425fb', NoNewPrivs: '0' },
      'overlay / overlay rw,relatime 0 0\n',
      env,
      ['sk-real-value'],
      { API_KEY: 'agentcage-ph-1' },
    );
    assert.deepEqual(
      r.map((c) => c.ok),
      [false, false, false, false],
    );
    assert.match(r[3].result, /REAL VALUE in SNEAKY/);
    assert.ok(!formatChecks(r).includes('sk-real-value'));
    assert.match(formatChecks(r), /^FAIL {2}capabilities are zero\n {6}tried: /);
    const wrongPh = processChecks(goodStatus, roMounts, new Map([['API_KEY', 'other']]), ['x'], {
      API_KEY: 'agentcage-ph-1',
    });
    assert.match(wrongPh[3].result, /not the placeholder: API_KEY/);
  });

  it('host rules: INPUT and FORWARD, IPv4 and IPv6, each tagged with the cage', () => {
    const rules = hostRules('demo', 'podman7');
    assert.deepEqual(
      rules.map((r) => `${r.cmd} ${r.rule.join(' ')}`),
      [
        'iptables INPUT -i podman7 -m comment --comment agentcage:demo -j REJECT',
        'iptables FORWARD -i podman7 ! -o podman7 -m comment --comment agentcage:demo -j REJECT',
        'ip6tables INPUT -i podman7 -m comment --comment agentcage:demo -j REJECT',
        'ip6tables FORWARD -i podman7 ! -o podman7 -m comment --comment agentcage:demo -j REJECT',
      ],
    );
  });
});
