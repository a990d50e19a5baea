import assert from 'node:assert/strict';
import {
  classifyAddress,
  embeddedIPv4,
  parseAllowCidrs,
  SsrfGuard,
} from '../../../proxy-image/src/net/ssrf.ts';

describe('proxy SSRF guard', () => {
  const strict = SsrfGuard.fromCidrs([]);

  it('refuses loopback, private, link-local, CGNAT and the metadata address', () => {
    for (const ip of [
      '127.0.0.1',
      '127.9.9.9',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '100.100.100.200',
      '0.0.0.0',
      '224.0.0.1',
    ]) {
      assert.match(strict.check(ip) ?? '', /not allowed/, ip);
    }
  });

  it('refuses the IPv6 equivalents, including IPv4 wrapped in IPv6', () => {
    for (const ip of [
      '::1',
      '::',
      'fe80::1',
      'fd00:ec2::254',
      'fc00::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:169.254.169.254',
      '64:ff9b::a9fe:a9fe',
      'ff02::1',
    ]) {
      assert.notEqual(strict.check(ip), undefined, ip);
    }
  });

  it('lets public addresses through', () => {
    for (const ip of [
      '1.1.1.1',
      '8.8.8.8',
      '93.184.216.34',
      '172.32.0.1',
      '100.128.0.1',
      '2606:4700::1111',
    ]) {
      assert.equal(strict.check(ip), undefined, ip);
    }
  });

  it('allows exactly the listed CIDRs, nothing around them', () => {
    const g = SsrfGuard.fromCidrs(['127.0.0.0/8', 'fd00::/8']);
    assert.equal(g.check('127.0.0.1'), undefined);
    assert.equal(g.check('::ffff:127.0.0.1'), undefined);
    assert.equal(g.check('fd12::1'), undefined);
    assert.notEqual(g.check('169.254.169.254'), undefined);
    assert.notEqual(g.check('10.0.0.1'), undefined);
    assert.notEqual(g.check('::1'), undefined);
  });

  it('names the bad entry of allowCidrs', () => {
    assert.throws(() => parseAllowCidrs(['127.0.0.0/8', 'nonsense']), /ssrf\.allowCidrs\[1\]/);
    assert.throws(() => parseAllowCidrs(['10.0.0.0/33']), /allowCidrs\[0\]/);
  });

  it('classifies and unwraps', () => {
    assert.equal(classifyAddress('169.254.169.254'), 'link-local');
    assert.equal(classifyAddress('100.64.1.1'), 'cgnat');
    assert.equal(embeddedIPv4('::ffff:a9fe:a9fe'), '169.254.169.254');
    assert.equal(embeddedIPv4('2001:db8::1'), undefined);
  });
});
