// The podman controller's pure planning: secret values, podman arguments, volumes, subnets.
import assert from 'node:assert/strict';
import { loadCage } from '../../../operator/api/load.ts';
import { renderPodman } from '../../../operator/render/podman.ts';
import { mintCa } from '../../../proxy-image/src/tls/ca.ts';
import {
  droppedSecrets,
  parseSecretArgs,
  planVolumes,
  secretCreateArgs,
  secretPayloads,
  secretValues,
  SECRET_PAYLOAD_ENV,
  usedSubnets,
} from '../../../operator/controller/podman/plan.ts';

const cage = loadCage(`
apiVersion: agentcage.io/v1alpha1
kind: Cage
metadata: { name: plan }
spec:
  agent: { image: localhost/agent:1 }
  egress: { allow: [api.example.com] }
  secrets:
    - { name: API_KEY, injectTo: [api.example.com] }
    - { name: GH_TOKEN, injectTo: [api.github.com], valueFrom: { env: HOST_GH_TOKEN } }
`);

describe('podman plan', () => {
  it('parses -s NAME=VALUE, keeping "=" inside the value, and rejects a missing "="', () => {
    assert.deepEqual(parseSecretArgs(['A=b=c', 'B=']), { A: 'b=c', B: '' });
    assert.throws(() => parseSecretArgs(['NOVALUE']), /give -s NAME=VALUE/);
  });

  it('takes each value from -s, else valueFrom.env; names every gap with the flag that fills it', () => {
    const ok = secretValues(cage, { API_KEY: 'k1' }, { HOST_GH_TOKEN: 'g1' });
    assert.deepEqual(ok, { values: { API_KEY: 'k1', GH_TOKEN: 'g1' }, problems: [] });
    const missing = secretValues(cage, {}, {});
    assert.deepEqual(missing.problems, [
      'spec.secrets[0] API_KEY: no value: pass -s API_KEY=VALUE',
      'spec.secrets[1] GH_TOKEN: no value: pass -s GH_TOKEN=VALUE or set the environment variable HOST_GH_TOKEN',
    ]);
    const unknown = secretValues(cage, { API_KEY: 'k', GH_TOKEN: 'g', TYPO: 'x' }, {});
    assert.match(
      unknown.problems.join('\n'),
      /-s TYPO: the cage declares no secret "TYPO" \(declared: API_KEY, GH_TOKEN\)/,
    );
    assert.match(
      secretValues(cage, { API_KEY: '', GH_TOKEN: 'g' }, {}).problems.join(),
      /-s API_KEY: the value is empty/,
    );
  });

  it('an update needs no value again for a secret whose podman secret exists', () => {
    const r = secretValues(cage, {}, {}, new Set(['API_KEY', 'GH_TOKEN']));
    assert.deepEqual(r, { values: {}, problems: [] });
  });

  it('podman secret create reads the payload from an env variable, never from argv', () => {
    const args = secretCreateArgs([
      'secret',
      'create',
      '--label',
      'agentcage.io/cage=plan',
      'agentcage-plan-API_KEY',
      '-',
    ]);
    assert.deepEqual(args, [
      'secret',
      'create',
      '--env',
      '--label',
      'agentcage.io/cage=plan',
      'agentcage-plan-API_KEY',
      SECRET_PAYLOAD_ENV,
    ]);
  });

  it('payloads: one per secret with a value, base64 JSON as kube play reads it; none for absent values', () => {
    const plan = renderPodman(cage, {
      placeholders: { API_KEY: 'agentcage-ph-' + 'a'.repeat(32), GH_TOKEN: 'agentcage-ph-' + 'b'.repeat(32) },
    });
    const p = secretPayloads(plan, { API_KEY: 'real-1' }, mintCa('t'));
    assert.deepEqual([...p.keys()], ['agentcage-plan-API_KEY']);
    assert.deepEqual(JSON.parse(p.get('agentcage-plan-API_KEY')!), {
      value: Buffer.from('real-1').toString('base64'),
    });
  });

  it('lists every named volume kube play leaves behind: configMaps by their own name, emptyDirs by the volume name, all cage-prefixed', () => {
    const plan = renderPodman(cage, {
      placeholders: { API_KEY: 'agentcage-ph-' + 'a'.repeat(32), GH_TOKEN: 'agentcage-ph-' + 'b'.repeat(32) },
    });
    const vols = planVolumes(plan);
    assert.ok(vols.includes('plan-dnsmasq'), vols.join()); // the dnsmasq ConfigMap
    assert.ok(vols.includes('c4-plan-agent-tmp'));
    assert.ok(
      vols.every((v) => v.startsWith('plan-') || v.startsWith('c4-plan-')),
      vols.join(),
    );
    assert.equal(new Set(vols).size, vols.length);
  });

  it('collects used subnets from podman network ls and finds secrets an update dropped', () => {
    assert.deepEqual(
      usedSubnets([
        { name: 'podman', subnets: [{ subnet: '10.88.0.0/16' }] },
        { name: 'x', subnets: [{ subnet: '10.213.5.0/24' }, { subnet: 'fd00::/64' }] },
        { name: 'none' },
      ]),
      ['10.88.0.0/16', '10.213.5.0/24', 'fd00::/64'],
    );
    const plan = renderPodman(cage, {
      placeholders: { API_KEY: 'agentcage-ph-' + 'a'.repeat(32), GH_TOKEN: 'agentcage-ph-' + 'b'.repeat(32) },
    });
    assert.deepEqual(droppedSecrets(['agentcage-plan-API_KEY', 'agentcage-plan-OLD'], plan), [
      'agentcage-plan-OLD',
    ]);
  });
});
