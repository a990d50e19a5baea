import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrMintCa } from '../../../proxy-image/src/tls/ca.ts';
import { LeafContexts } from '../../../proxy-image/src/tls/leaf-contexts.ts';

describe('proxy certificates', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'agentcage-ca-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('mints a CA once (key 0600), then loads the same one', () => {
    const a = loadOrMintCa(join(dir, 'ca'), 'demo');
    assert.equal(a.minted, true);
    assert.equal(statSync(join(dir, 'ca', 'ca.key')).mode & 0o777, 0o600);
    const b = loadOrMintCa(join(dir, 'ca'), 'demo');
    assert.equal(b.minted, false);
    assert.equal(b.certPem, a.certPem);
    const x = new X509Certificate(a.certPem);
    assert.equal(x.ca, true);
    assert.match(x.subject, /CN=agentcage demo CA/);
  });

  it('leaves for names and IP addresses verify against the CA and name exactly their host', () => {
    const ca = loadOrMintCa(join(dir, 'ca'), 'demo');
    const caCert = new X509Certificate(ca.certPem);
    const leafs = new LeafContexts(ca);
    for (const host of ['api.example.com', '127.0.0.1', '2001:db8::1']) {
      const leaf = new X509Certificate(leafs.mint(host));
      assert.equal(leaf.verify(caCert.publicKey), true, host);
      assert.equal(leaf.checkIssued(caCert), true, host);
      assert.equal(leaf.ca, false);
      assert.equal(leaf.publicKey.asymmetricKeyType, 'ec', 'EC P-256 leaf key');
      if (host.includes('.') && !/^\d/.test(host)) {
        assert.equal(leaf.checkHost(host), host);
        assert.equal(leaf.checkHost('other.example.com'), undefined);
      } else assert.equal(leaf.checkIP(host), host);
      assert.ok(new Date(leaf.validTo) <= new Date(caCert.validTo));
      assert.ok(new Date(leaf.validFrom) <= new Date());
    }
  });

  it('caches one context per host, minting each host once, within a bound', () => {
    const ca = loadOrMintCa(join(dir, 'ca'), 'demo');
    const minted: string[] = [];
    const leafs = new LeafContexts(ca, (h) => minted.push(h), 3);
    const a = leafs.get('a.test');
    assert.equal(leafs.get('a.test'), a);
    for (const h of ['b.test', 'c.test', 'd.test']) leafs.get(h);
    assert.equal(leafs.size, 3);
    assert.deepEqual(minted, ['a.test', 'b.test', 'c.test', 'd.test']);
    leafs.get('a.test'); // evicted as least recently used: minted again
    assert.equal(minted.length, 5);
  });
});
