// The cage CA and server certificates (checked with node's own X.509), the state store, and the
// controller refusing bad input before it touches podman.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprint, issueServerCert, loadCa, mintCa } from '../../../proxy-image/src/tls/ca.ts';
import { LeafContexts } from '../../../proxy-image/src/tls/leaf-contexts.ts';
import { PodmanController } from '../../../operator/controller/podman/controller.ts';
import { CageStore, type CageRecord } from '../../../operator/controller/podman/state.ts';

describe('podman controller: CA, state, input checks', () => {
  let dir = '';
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'agentcage-state-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('mints a CA, and server certificates that verify against it and only it', () => {
    const ca = mintCa('agentcage test CA');
    const caCert = new X509Certificate(ca.certPem);
    assert.equal(caCert.ca, true);
    const leaf = issueServerCert(ca, ['api.example.test', '*.api.example.test'], ['10.0.0.1']);
    const leafCert = new X509Certificate(leaf.certPem);
    assert.equal(leafCert.ca, false);
    assert.ok(leafCert.verify(caCert.publicKey));
    assert.ok(leafCert.checkIssued(caCert));
    assert.equal(leafCert.checkHost('api.example.test'), 'api.example.test');
    assert.equal(leafCert.checkHost('x.api.example.test'), '*.api.example.test'); // the SAN that matched
    assert.equal(leafCert.checkHost('evil.example.test'), undefined);
    assert.equal(leafCert.checkIP('10.0.0.1'), '10.0.0.1');
    // The fingerprint is the one openssl and node print.
    assert.equal(fingerprint(ca.certPem), caCert.fingerprint256);
    // A certificate from another CA does not verify.
    assert.ok(!leafCert.verify(new X509Certificate(mintCa('other').certPem).publicKey));
  });

  it("the EC cage CA, written as the controller writes it, loads with the proxy's loadCa and signs leaves that verify against it", () => {
    const ca = mintCa('agentcage podman-test CA');
    const store = new CageStore(dir);
    store.writeFile('c1', 'ca/ca.crt', ca.certPem, 0o644);
    store.writeFile('c1', 'ca/ca.key', ca.keyPem, 0o600);
    const loaded = loadCa(join(dir, 'c1', 'ca'));
    assert.equal(loaded.certPem, ca.certPem);
    const caCert = new X509Certificate(ca.certPem);
    const leaf = new X509Certificate(new LeafContexts(loaded).mint('api.example.test'));
    assert.ok(leaf.checkIssued(caCert));
    assert.ok(leaf.verify(caCert.publicKey));
    assert.equal(leaf.checkHost('api.example.test'), 'api.example.test');
    // Another CA's leaf is not accepted.
    assert.ok(!leaf.verify(new X509Certificate(mintCa('other').certPem).publicKey));
  });

  it('stores records atomically, lists only complete cages, and names them when one is missing', () => {
    const store = new CageStore(dir);
    assert.deepEqual(store.names(), []);
    assert.throws(() => store.read('nope'), /no cage named "nope" \(there are no cages/);
    const rec = { name: 'c1', network: 'agentcage-c1' } as CageRecord;
    store.write(rec);
    store.ensureDir('half'); // a directory without state.json is not a cage
    assert.deepEqual(store.names(), ['c1']);
    assert.equal(store.read('c1').network, 'agentcage-c1');
    assert.throws(() => store.read('c2'), /no cage named "c2" \(cages here: c1\)/);
    const key = store.writeFile('c1', 'ca/ca.key', 'KEY');
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(join(dir, 'c1')).sort(), ['ca', 'state.json']); // no temporary files left
    store.remove('c1');
    assert.deepEqual(store.names(), []);
  });

  it('create refuses an invalid Cage with every field problem, before touching podman or the store', async () => {
    const ctl = new PodmanController(new CageStore(dir));
    const text = `apiVersion: agentcage.io/v1alpha1
kind: Cage
metadata: { name: Bad_Name }
spec:
  agent: { image: localhost/a:1 }
  egress: { allow: ["Not A Domain"] }
`;
    await assert.rejects(ctl.create({ text, source: 'bad.yaml', secrets: {} }), (e: Error) => {
      assert.match(e.message, /Cage in bad\.yaml/);
      assert.match(e.message, /metadata\.name: /);
      assert.match(e.message, /spec\.egress\.allow\[0\]: /);
      return true;
    });
    assert.deepEqual(readdirSync(dir), []);
  });

  it('create refuses a cage whose secrets have no value, naming the -s flag to pass', async () => {
    const ctl = new PodmanController(new CageStore(dir));
    const text = `apiVersion: agentcage.io/v1alpha1
kind: Cage
metadata: { name: nosecret }
spec:
  agent: { image: localhost/a:1 }
  egress: { allow: [api.example.com] }
  secrets: [{ name: API_KEY, injectTo: [api.example.com] }]
`;
    await assert.rejects(
      ctl.create({ text, source: 'c.yaml', secrets: {} }),
      /API_KEY: no value: pass -s API_KEY=VALUE/,
    );
    assert.deepEqual(readdirSync(dir), []);
  });
});
