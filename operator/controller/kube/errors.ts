// API errors as the API server states them: an HTTP code plus a Status object. Both clients
// throw ApiError, so the controller handles 404/409/410 the same way in tests and in a cluster.
import type { ResourceType, StatusObject } from './types.ts';

export class ApiError extends Error {
  constructor(public readonly status: StatusObject) {
    super(status.message);
    this.name = 'ApiError';
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): string {
    return this.status.reason;
  }
}

export function statusObject(
  code: number,
  reason: string,
  message: string,
  details?: StatusObject['details'],
): StatusObject {
  const s: StatusObject = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  };
  if (details) s.details = details;
  return s;
}

const what = (t: ResourceType) => (t.group ? `${t.plural}.${t.group}` : t.plural);

export function notFound(t: ResourceType, name: string): ApiError {
  return new ApiError(
    statusObject(404, 'NotFound', `${what(t)} "${name}" not found`, { name, group: t.group, kind: t.plural }),
  );
}

export function alreadyExists(t: ResourceType, name: string): ApiError {
  return new ApiError(
    statusObject(409, 'AlreadyExists', `${what(t)} "${name}" already exists`, {
      name,
      group: t.group,
      kind: t.plural,
    }),
  );
}

/** Optimistic concurrency: the resourceVersion sent is not the current one. */
export function staleConflict(t: ResourceType, name: string): ApiError {
  return new ApiError(
    statusObject(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${what(t)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, group: t.group, kind: t.plural },
    ),
  );
}

/** Server-side apply: fields owned by another manager would change. */
export function applyConflict(
  t: ResourceType,
  name: string,
  conflicts: { manager: string; field: string }[],
): ApiError {
  const causes = conflicts.map((c) => ({
    type: 'FieldManagerConflict',
    message: `conflict with "${c.manager}"`,
    field: c.field,
  }));
  const lines = conflicts.map((c) => `- conflict with "${c.manager}": ${c.field}`).join('\n');
  return new ApiError(
    statusObject(
      409,
      'Conflict',
      `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'}:\n${lines}`,
      { name, group: t.group, kind: t.plural, causes },
    ),
  );
}

export function gone(message = 'too old resource version'): ApiError {
  return new ApiError(statusObject(410, 'Expired', message));
}

export function invalid(t: ResourceType, name: string, message: string): ApiError {
  return new ApiError(
    statusObject(422, 'Invalid', `${what(t)} "${name}" is invalid: ${message}`, {
      name,
      group: t.group,
      kind: t.plural,
    }),
  );
}

export function isApiError(err: unknown, code?: number): err is ApiError {
  return err instanceof ApiError && (code === undefined || err.code === code);
}

/** True for a Status-shaped object (watch ERROR events carry one). */
export function isStatusObject(o: unknown): o is StatusObject {
  return (
    typeof o === 'object' &&
    o !== null &&
    (o as { kind?: unknown }).kind === 'Status' &&
    typeof (o as { code?: unknown }).code === 'number'
  );
}
