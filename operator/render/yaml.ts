// Objects -> one multi-document YAML stream (what kubectl apply and podman kube play read).
import yaml from 'js-yaml';

export function toYamlDocuments(objects: readonly object[]): string {
  return objects
    .map((o) => '---\n' + yaml.dump(o, { noRefs: true, lineWidth: -1, sortKeys: false }))
    .join('');
}
