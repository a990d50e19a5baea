// Writes templates/crd.yaml from crds/agentcage.io_cages.yaml (generated from the zod schema):
//   npx tsx charts/agentcage/sync-crd.ts          (a test fails while the two differ)
// The template installs the CRD when crds.install is set and, with crds.keep, marks it
// helm.sh/resource-policy: keep, so uninstalling the release never deletes every Cage.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CRD_SOURCE = fileURLToPath(new URL('../../crds/agentcage.io_cages.yaml', import.meta.url));
export const CRD_TEMPLATE = fileURLToPath(new URL('./templates/crd.yaml', import.meta.url));

export function crdTemplate(crdYaml: string): string {
  // Template delimiters inside the CRD (a description, a pattern) must reach the output verbatim.
  const body = crdYaml.replace(/\{\{|\}\}/g, (d) => `{{ "${d}" }}`);
  const lines = body.split('\n').filter((l, i) => !(i < 3 && l.startsWith('#')));
  const at = lines.indexOf('metadata:');
  if (at < 0) throw new Error(`${CRD_SOURCE}: no top-level metadata`);
  if (lines.slice(at + 1).some((l) => l === '  annotations:'))
    throw new Error(`${CRD_SOURCE}: already has metadata.annotations; teach sync-crd.ts to merge them`);
  lines.splice(
    at + 1,
    0,
    '  {{- if .Values.crds.keep }}',
    '  annotations:',
    '    # Uninstalling the release leaves the CRD, and so every Cage, in place.',
    '    helm.sh/resource-policy: keep',
    '  {{- end }}',
  );
  return [
    '# Generated from crds/agentcage.io_cages.yaml by charts/agentcage/sync-crd.ts: do not edit by hand.',
    '{{- if .Values.crds.install }}',
    ...lines.filter((l, i, a) => !(i === a.length - 1 && l === '')),
    '{{- end }}',
    '',
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(CRD_TEMPLATE, crdTemplate(readFileSync(CRD_SOURCE, 'utf8')));
  console.log(`wrote ${CRD_TEMPLATE}`);
}
