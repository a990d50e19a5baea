// The pure renderers: Cage (+ a context carrying everything random, observed or time-dependent)
// -> proxy policy, dnsmasq.conf, Kubernetes objects, podman kube YAML with its network plan.
export { renderPolicy } from './policy.ts';
export { renderDnsmasq } from './dnsmasq.ts';
export {
  renderKubernetes,
  AWAITING_IP,
  PROXY_DENIED_V4,
  PROXY_DENIED_V6,
  type KubeObject,
} from './kubernetes.ts';
export {
  renderPodman,
  podmanSecretData,
  podmanHostFirewall,
  CAGE_LABEL,
  DEFAULT_EGRESS_NETWORK,
  type PodmanPlan,
  type PodmanPodPlan,
  type PodmanSecretPlan,
  type PodmanNetworkPlan,
} from './podman.ts';
export { pickSubnet, cageAddresses, DEFAULT_SUBNET_POOL, type CageSubnet } from './subnet.ts';
export { toYamlDocuments } from './yaml.ts';
export { cageNames, labels, selectorLabels, LABEL, type Component } from './names.ts';
export {
  PORTS,
  PATHS,
  PROXY_ENV,
  CA_TRUST_VARS,
  DEFAULT_IMAGES,
  PODMAN_SECRET_KEY,
  proxyArgs,
  proxySecretEnv,
} from './contract.ts';
export {
  RenderError,
  type RenderContext,
  type PolicyContext,
  type DnsmasqContext,
  type KubernetesContext,
  type PodmanContext,
  type RenderImages,
} from './context.ts';
