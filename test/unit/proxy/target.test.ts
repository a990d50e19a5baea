import assert from 'node:assert/strict';
import { parseAbsoluteUrl, parseAuthority } from '../../../proxy-image/src/proxy/target.ts';

describe('proxy request targets', () => {
  it('parses absolute-form URLs', () => {
    assert.deepEqual(parseAbsoluteUrl('http://API.Example.com:8080/a/b?c=d#frag'), {
      scheme: 'http',
      host: 'api.example.com',
      port: 8080,
      explicitPort: true,
      path: '/a/b?c=d',
    });
    assert.deepEqual(parseAbsoluteUrl('https://x.test'), {
      scheme: 'https',
      host: 'x.test',
      port: 443,
      explicitPort: false,
      path: '/',
    });
    assert.equal(parseAbsoluteUrl('http://x.test?q=1')?.path, '/?q=1');
    assert.equal(parseAbsoluteUrl('http://[::1]:81/')?.host, '::1');
  });

  it('refuses ambiguous or foreign targets', () => {
    for (const bad of [
      'ftp://x.test/',
      'http://user:pw@x.test/',
      'http://x.test:0/',
      'http://x.test:65536/',
      'http://x.test:80x/',
      'http://exa mple.test/',
      'http://x.test\r\nHost: y/',
      '/relative',
      'http:///nohost',
    ]) {
      assert.equal(parseAbsoluteUrl(bad), undefined, bad);
    }
  });

  it('parses CONNECT authorities and Host headers', () => {
    assert.deepEqual(parseAuthority('api.test:8443', 443), {
      host: 'api.test',
      port: 8443,
      explicitPort: true,
    });
    assert.deepEqual(parseAuthority('api.test.', 80), { host: 'api.test', port: 80, explicitPort: false });
    assert.deepEqual(parseAuthority('[2001:db8::1]:443', 80), {
      host: '2001:db8::1',
      port: 443,
      explicitPort: true,
    });
    assert.equal(parseAuthority('[::1', 80), undefined);
    assert.equal(parseAuthority('', 80), undefined);
    assert.equal(parseAuthority('a.test:1:2', 80), undefined);
  });
});
