// Reading what a cage's pods decided: the proxy's audit lines and the dns image's query lines both
// go to their container's stdout, so `podman logs` is the source for both (no host mount needed).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { byTime, filterAudit, parseAuditLines, type AuditFilter, type AuditRecord } from './audit.ts';
import { podman } from './exec.ts';

/** Every audit record of the given containers so far, oldest first. */
export async function readAudit(containers: string[], filter: AuditFilter = {}): Promise<AuditRecord[]> {
  const all: AuditRecord[] = [];
  for (const c of containers) {
    const r = await podman(['logs', c], { allowFail: true, timeoutMs: 30_000 });
    all.push(...parseAuditLines(r.stdout));
  }
  return filterAudit(byTime(all), filter);
}

/** Follows the containers' logs, calling `onRecord` for each matching new audit line, until `signal`. */
export function followAudit(
  containers: string[],
  filter: AuditFilter,
  onRecord: (r: AuditRecord) => void,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve) => {
    let open = containers.length;
    for (const c of containers) {
      const child = spawn('podman', ['logs', '-f', c], { stdio: ['ignore', 'pipe', 'ignore'] });
      signal?.addEventListener('abort', () => child.kill('SIGTERM'));
      createInterface({ input: child.stdout }).on('line', (line) => {
        for (const r of filterAudit(parseAuditLines(line), filter)) onRecord(r);
      });
      child.on('close', () => {
        if (--open === 0) resolve();
      });
    }
  });
}
