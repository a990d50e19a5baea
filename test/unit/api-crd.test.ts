// The CRD: committed file up to date, structural as Kubernetes requires, upstream-valid, and each
// cross-field rule saying the same thing in zod and in CEL.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { evaluate } from '@marcbachmann/cel-js';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { z } from 'zod';
import {
  CageSchema,
  egressRules,
  portRules,
  volumeRules,
  type CrossFieldRule,
} from '../../operator/api/cage.ts';
import {
  buildCrd,
  cageOpenApiSchema,
  crdYaml,
  toStructuralSchema,
  type JsonSchema,
} from '../../operator/api/crd.ts';

const CRD_FILE = new URL('../../crds/agentcage.io_cages.yaml', import.meta.url);

// Every key a CRD's JSONSchemaProps may hold (apiextensions.k8s.io/v1), besides x-kubernetes-*.
const SCHEMA_KEYS = new Set([
  'type',
  'format',
  'title',
  'description',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'required',
  'items',
  'allOf',
  'oneOf',
  'anyOf',
  'not',
  'properties',
  'additionalProperties',
  'nullable',
  'example',
  'externalDocs',
]);
// Formats the API server validates (k8s.io/kube-openapi strfmt, as apiextensions lists them).
const K8S_FORMATS = new Set([
  'bsonobjectid',
  'uri',
  'email',
  'hostname',
  'ipv4',
  'ipv6',
  'cidr',
  'mac',
  'uuid',
  'uuid3',
  'uuid4',
  'uuid5',
  'isbn',
  'isbn10',
  'isbn13',
  'creditcard',
  'ssn',
  'hexcolor',
  'rgbcolor',
  'byte',
  'password',
  'date',
  'duration',
  'datetime',
  'date-time',
  'int32',
  'int64',
  'float',
  'double',
]);

interface Visited {
  path: string;
  node: JsonSchema;
}

/** Every schema node (properties, items, additionalProperties, junctors), with a readable path. */
function nodes(root: JsonSchema, path = '$'): Visited[] {
  const out: Visited[] = [{ path, node: root }];
  const props = root.properties as Record<string, JsonSchema> | undefined;
  for (const [k, v] of Object.entries(props ?? {})) out.push(...nodes(v, `${path}.${k}`));
  if (root.items && typeof root.items === 'object') out.push(...nodes(root.items as JsonSchema, `${path}[]`));
  if (root.additionalProperties && typeof root.additionalProperties === 'object')
    out.push(...nodes(root.additionalProperties as JsonSchema, `${path}{}`));
  for (const j of ['anyOf', 'oneOf', 'allOf'])
    ((root[j] as JsonSchema[] | undefined) ?? []).forEach((n, i) =>
      out.push(...nodes(n, `${path}.${j}[${i}]`)),
    );
  return out;
}

/** The structural-schema rules Kubernetes enforces, as one message per breach. */
function structuralProblems(root: JsonSchema): string[] {
  const problems: string[] = [];
  for (const { path, node } of nodes(root)) {
    const inJunctor = /\.(anyOf|oneOf|allOf)\[/.test(path);
    for (const key of Object.keys(node))
      if (!SCHEMA_KEYS.has(key) && !key.startsWith('x-kubernetes-'))
        problems.push(`${path}: "${key}" is not a CRD schema field`);
    if (
      !inJunctor &&
      !node.type &&
      !node['x-kubernetes-int-or-string'] &&
      !node['x-kubernetes-preserve-unknown-fields']
    )
      problems.push(`${path}: no type`);
    if (inJunctor)
      for (const k of ['type', 'default', 'additionalProperties', 'nullable', 'description'])
        if (k in node) problems.push(`${path}: "${k}" inside a junctor`);
    if (node.properties && 'additionalProperties' in node)
      problems.push(`${path}: additionalProperties beside properties`);
    if (node.additionalProperties === false) problems.push(`${path}: additionalProperties: false`);
    if (typeof node.format === 'string' && !K8S_FORMATS.has(node.format))
      problems.push(`${path}: format "${node.format}" unknown to Kubernetes`);
    if (typeof node.pattern === 'string') {
      // The API server compiles patterns with Go's RE2: no lookaround, no backreferences.
      if (/\(\?<?[=!]/.test(node.pattern)) problems.push(`${path}: pattern uses lookaround`);
      if (/\\[1-9]/.test(node.pattern)) problems.push(`${path}: pattern uses a backreference`);
    }
    if (node['x-kubernetes-list-type'] === 'map') {
      const keys = (node['x-kubernetes-list-map-keys'] as string[] | undefined) ?? [];
      const req = ((node.items as JsonSchema).required as string[] | undefined) ?? [];
      if (keys.length === 0) problems.push(`${path}: list-type map without map keys`);
      for (const k of keys) if (!req.includes(k)) problems.push(`${path}: map key "${k}" not required`);
    }
  }
  return problems;
}

describe('CRD generated from the zod schema', () => {
  it('crds/agentcage.io_cages.yaml is what the schema generates', () => {
    const committed = readFileSync(CRD_FILE, 'utf8');
    assert.ok(
      committed === crdYaml(),
      'crds/agentcage.io_cages.yaml is stale: run `make crd` and commit the result',
    );
  });

  it('validates against the upstream CustomResourceDefinition schema', () => {
    new CustomResourceDefinition(buildCrd() as never).validate();
  });

  it('is structural: types everywhere, no additionalProperties beside properties, RE2 patterns', () => {
    assert.deepEqual(structuralProblems(cageOpenApiSchema()), []);
  });

  it('the structural check itself catches each kind of breach', () => {
    const bad: JsonSchema = {
      type: 'object',
      properties: {
        a: { description: 'no type' },
        b: { type: 'object', properties: { x: { type: 'string' } }, additionalProperties: false },
        c: { anyOf: [{ type: 'integer' }, { type: 'string' }] },
        d: { type: 'string', pattern: '^(?!admin)[a-z]+$' },
        e: { type: 'string', $ref: '#/x' },
        f: { type: 'string', format: 'ipv4-or-whatever' },
      },
    };
    const found = structuralProblems(bad).join('\n');
    for (const frag of [
      '$.a: no type',
      '$.b: additionalProperties beside properties',
      '$.c.anyOf[0]: "type" inside a junctor',
      '$.d: pattern uses lookaround',
      '$.e: "$ref" is not a CRD schema field',
      '$.f: format',
    ])
      assert.ok(found.includes(frag), `expected "${frag}" in:\n${found}`);
  });

  it('an int-or-string field loses its typed anyOf and keeps its marker', () => {
    const s = toStructuralSchema(
      z.strictObject({
        port: z.union([z.number().int(), z.string()]).meta({ 'x-kubernetes-int-or-string': true }),
      }),
    );
    const port = (s.properties as Record<string, JsonSchema>).port;
    assert.deepEqual(port, { 'x-kubernetes-int-or-string': true });
    assert.equal(s.additionalProperties, undefined, 'strictObject must not leak additionalProperties: false');
    assert.deepEqual(structuralProblems(s), []);
  });

  it('has the status subresource, its own status schema, printer columns and short name', () => {
    const crd = buildCrd() as {
      spec: {
        scope: string;
        names: { shortNames: string[] };
        versions: {
          subresources: unknown;
          additionalPrinterColumns: { name: string; jsonPath: string }[];
          schema: { openAPIV3Schema: JsonSchema };
        }[];
      };
    };
    const v = crd.spec.versions[0];
    assert.equal(crd.spec.scope, 'Namespaced');
    assert.deepEqual(crd.spec.names.shortNames, ['cg']);
    assert.deepEqual(v.subresources, { status: {} });
    assert.deepEqual(
      v.additionalPrinterColumns.map((c) => [c.name, c.jsonPath]),
      [
        ['Ready', '.status.conditions[?(@.type=="Ready")].status'],
        ['Egress', '.status.egressMode'],
        ['Age', '.metadata.creationTimestamp'],
      ],
    );
    const status = (v.schema.openAPIV3Schema.properties as Record<string, JsonSchema>).status;
    const conditions = (status.properties as Record<string, JsonSchema>).conditions;
    assert.equal(conditions['x-kubernetes-list-type'], 'map');
    assert.deepEqual(conditions['x-kubernetes-list-map-keys'], ['type']);
  });

  it('carries every cross-field rule as x-kubernetes-validations at the right node', () => {
    const spec = (cageOpenApiSchema().properties as Record<string, JsonSchema>).spec;
    const at = (path: string[]): JsonSchema =>
      path.reduce<JsonSchema>(
        (n, seg) =>
          seg === '[]' ? (n.items as JsonSchema) : (n.properties as Record<string, JsonSchema>)[seg],
        spec,
      );
    const where: [string[], CrossFieldRule<never>[]][] = [
      [['egress'], egressRules as CrossFieldRule<never>[]],
      [['agent', 'ports', '[]'], portRules as CrossFieldRule<never>[]],
      [['agent', 'volumes', '[]'], volumeRules as CrossFieldRule<never>[]],
    ];
    for (const [path, rules] of where) {
      const got = (at(path)['x-kubernetes-validations'] as { rule: string; message: string }[]) ?? [];
      assert.deepEqual(
        got,
        rules.map((r) => ({ rule: r.cel, message: r.message })),
        `spec.${path.join('.')}`,
      );
      // The API server costs a rule by the longest string it may read: every string whose value a
      // rule reads (not just has()) is bounded.
      for (const r of rules)
        for (const [, field] of r.cel.matchAll(/(?<!has\()self\.([A-Za-z]+)/g)) {
          const f = (at(path).properties as Record<string, JsonSchema>)[field];
          assert.ok(f, `rule "${r.cel}" reads self.${field}, which the schema lacks`);
          if (f.type === 'string')
            assert.ok(f.maxLength || f.enum, `self.${field} read by a CEL rule needs a maxLength`);
        }
    }
  });
});

/** Every combination of the candidate values (undefined = field absent). */
function combos(fields: Record<string, unknown[]>): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [k, values] of Object.entries(fields))
    out = out.flatMap((o) => values.map((v) => (v === undefined ? { ...o } : { ...o, [k]: v })));
  return out;
}

describe('cross-field rules agree in zod and CEL (@marcbachmann/cel-js)', () => {
  const cases: [string, CrossFieldRule<never>[], Record<string, unknown[]>][] = [
    [
      'egress',
      egressRules as CrossFieldRule<never>[],
      {
        allow: [undefined, [], ['a.example']],
        block: [undefined, [], ['b.example']],
        ports: [undefined, [443]],
      },
    ],
    [
      'ports',
      portRules as CrossFieldRule<never>[],
      {
        containerPort: [8080],
        hostIP: [undefined, '127.0.0.1', '::1', '0.0.0.0', '10.1.2.3', '::'],
        allowAllInterfaces: [undefined, true, false],
      },
    ],
    [
      'volumes',
      volumeRules as CrossFieldRule<never>[],
      { name: ['v'], claimName: [undefined, 'pvc'], hostPath: [undefined, '/srv/x'] },
    ],
  ];
  for (const [what, rules, fields] of cases) {
    it(`${what}: holds() and the CEL rule give the same verdict on every sample`, () => {
      const samples = combos(fields);
      let rejected = 0;
      for (const rule of rules)
        for (const self of samples) {
          const cel = evaluate(rule.cel, { self });
          const zod = rule.holds(self as never);
          assert.equal(cel, zod, `${what} rule "${rule.cel}" on ${JSON.stringify(self)}`);
          if (!zod) rejected++;
        }
      // The samples must exercise both verdicts, or agreement proves nothing.
      assert.ok(rejected > 0 && rejected < samples.length * rules.length);
    });
  }

  it('metadata.name: the CRD pattern accepts and refuses what zod does', () => {
    const pattern = new RegExp(
      (
        (cageOpenApiSchema().properties as Record<string, JsonSchema>).metadata.properties as Record<
          string,
          JsonSchema
        >
      ).name.pattern as string,
    );
    const base = { apiVersion: 'agentcage.io/v1alpha1', kind: 'Cage', spec: { agent: { image: 'busybox' } } };
    for (const name of [
      'demo',
      'a',
      'my-cage-2',
      'Demo',
      '2cage',
      'a.b',
      'x'.repeat(41),
      'x'.repeat(40),
      'ends-',
    ]) {
      const zodOk = CageSchema.safeParse({ ...base, metadata: { name } }).success;
      assert.equal(pattern.test(name), zodOk, name);
    }
  });
});
