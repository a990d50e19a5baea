// The one resolver the proxy connects through: resolve once, check every address against the
// SSRF guard, hand node's socket only the addresses that passed. Node connects to exactly what a
// lookup returns, so the checked address is the connected address (no rebinding window).
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import type { SsrfGuard } from './ssrf.ts';

export class SsrfError extends Error {
  readonly code = 'ESSRF';
  constructor(
    readonly host: string,
    readonly reason: string,
  ) {
    super(`refused to connect to ${host}: ${reason}`);
  }
}

export type StaticHosts = ReadonlyMap<string, string>;

/** Parses `name=ip` entries (the --resolve flag). */
export function parseStaticHosts(entries: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of entries) {
    const eq = e.indexOf('=');
    const host = eq > 0 ? e.slice(0, eq).trim().toLowerCase() : '';
    const ip = eq > 0 ? e.slice(eq + 1).trim() : '';
    if (!host || isIP(ip) === 0) throw new Error(`--resolve ${e}: give NAME=IP, e.g. api.test=127.0.0.1`);
    out.set(host, ip);
  }
  return out;
}

/** Checks an IP literal destination (node does not call the lookup for those). */
export function checkLiteral(guard: SsrfGuard, host: string): SsrfError | undefined {
  const why = guard.check(host);
  return why === undefined ? undefined : new SsrfError(host, why);
}

export function guardedLookup(guard: () => SsrfGuard, statics: StaticHosts): LookupFunction {
  return ((hostname: string, options: { all?: boolean; family?: number }, cb: LookupCallback) => {
    const done = (err: NodeJS.ErrnoException | null, addrs: LookupAddress[]) => {
      if (err) return cb(err, options.all ? [] : '', 0);
      const g = guard();
      const ok: LookupAddress[] = [];
      let refused: string | undefined;
      for (const a of addrs) {
        const why = g.check(a.address);
        if (why === undefined) ok.push(a);
        else refused ??= why;
      }
      if (ok.length === 0) {
        const e = new SsrfError(hostname, refused ?? 'no address');
        return cb(e as unknown as NodeJS.ErrnoException, options.all ? [] : '', 0);
      }
      if (options.all) return cb(null, ok);
      return cb(null, ok[0].address, ok[0].family);
    };
    const fixed = statics.get(hostname);
    if (fixed !== undefined) return done(null, [{ address: fixed, family: isIP(fixed) }]);
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (err, addrs) => done(err, addrs ?? []));
  }) as unknown as LookupFunction;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;
