// The Cage CustomResourceDefinition, generated from the zod schemas in cage.ts (never edited by hand:
// `make crd` writes crds/agentcage.io_cages.yaml from here, and a test fails when that file is stale).
// Kubernetes wants a *structural* OpenAPI v3 schema; what zod emits is close, the override below
// removes the rest (see ../shared/notes/crd-from-zod.md for what a real API server accepted).
import yaml from 'js-yaml';
import { z } from 'zod';
import {
  API_VERSION,
  CageSpecSchema,
  CageStatusSchema,
  GROUP,
  KIND,
  MetadataSchema,
  PLURAL,
  SHORT_NAME,
  VERSION,
} from './cage.ts';

export type JsonSchema = { [key: string]: unknown };

export const CRD_NAME = `${PLURAL}.${GROUP}`;
export const INT_OR_STRING = 'x-kubernetes-int-or-string';

/**
 * Makes one zod-generated node structural, in place:
 * - `additionalProperties: false` goes: we validate with z.strictObject locally, and the API server
 *   rejects unknown fields itself (strict field validation); Kubernetes forbids it beside `properties`.
 * - a node marked x-kubernetes-int-or-string loses its `anyOf` (each branch carries a type, which a
 *   structural schema forbids); the marker alone tells the server what it accepts.
 * - the `maximum`/`minimum` zod puts on every .int() (±2^53-1) is noise, not a rule.
 */
function makeStructural(node: JsonSchema): void {
  if (node.additionalProperties === false) delete node.additionalProperties;
  if (node[INT_OR_STRING] === true) {
    delete node.anyOf;
    delete node.oneOf;
    delete node.type;
  }
  if (node.maximum === Number.MAX_SAFE_INTEGER) delete node.maximum;
  if (node.minimum === Number.MIN_SAFE_INTEGER) delete node.minimum;
  delete node.$schema;
}

/** The OpenAPI v3 (Kubernetes structural) schema of any zod schema, as input (defaults optional). */
export function toStructuralSchema(schema: z.ZodType): JsonSchema {
  const out = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'input',
    reused: 'inline',
    override: (ctx) => makeStructural(ctx.jsonSchema as JsonSchema),
  }) as JsonSchema;
  makeStructural(out);
  return out;
}

/** The CRD's openAPIV3Schema: apiVersion, kind, metadata (name rules only), spec and status. */
export function cageOpenApiSchema(): JsonSchema {
  const name = toStructuralSchema(MetadataSchema.shape.name);
  return {
    type: 'object',
    description:
      'A sandbox around one AI agent: its only way out is an inspecting proxy and a DNS allowlist.',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      // Kubernetes allows restrictions on metadata.name only; object names prefix every child's name.
      metadata: { type: 'object', properties: { name: { type: 'string', pattern: name.pattern } } },
      spec: toStructuralSchema(CageSpecSchema),
      status: toStructuralSchema(CageStatusSchema),
    },
  };
}

/** The CustomResourceDefinition object (apiextensions.k8s.io/v1). */
export function buildCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: { 'app.kubernetes.io/name': 'agentcage', 'app.kubernetes.io/part-of': 'agentcage' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: KIND.toLowerCase(),
        shortNames: [SHORT_NAME],
        categories: ['agentcage'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Egress', type: 'string', jsonPath: '.status.egressMode' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema: cageOpenApiSchema() },
        },
      ],
    },
  };
}

/** The CRD as the YAML committed in crds/ (and printed by `agentcage crd`). */
export function crdYaml(): string {
  const header =
    `# Generated from operator/api/cage.ts by \`make crd\` (agentcage crd): do not edit by hand.\n` +
    `# ${KIND} ${API_VERSION}\n`;
  return header + yaml.dump(buildCrd(), { noRefs: true, lineWidth: -1, sortKeys: false });
}
