// The inspector library as the proxy uses it. Tests may pass another builder (same signature).
import type { buildInspectors } from '../inspect/index.ts';

export type { InspectorSet, SecretSwap } from '../inspect/index.ts';
export type BuildInspectors = typeof buildInspectors;
