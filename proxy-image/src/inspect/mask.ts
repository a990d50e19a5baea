// What a human may see of a secret: a short prefix and its length, never the value in full.
// Verdict reasons end up in 403 bodies and audit logs, so every reason goes through here.

export function mask(value: string): string {
  const shown = value.length >= 16 ? 4 : value.length >= 10 ? 2 : 0;
  return `${value.slice(0, shown)}… (${value.length} chars)`;
}
