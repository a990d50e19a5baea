// Where a request is going, from the request line, the CONNECT authority or the Host header.
// Pure; every parse returns undefined for anything ambiguous (the caller blocks it).
import { isValidHost, normalizeHost } from '../net/domain.ts';

export interface Authority {
  host: string; // normalized: lower case, no brackets, no trailing dot
  port: number;
  explicitPort: boolean;
}

export interface Target extends Authority {
  scheme: 'http' | 'https';
  path: string; // origin-form
}

/** "host", "host:port", "[v6]", "[v6]:port". No userinfo, no path. */
export function parseAuthority(authority: string, defaultPort: number): Authority | undefined {
  if (authority.length === 0 || authority.length > 262) return undefined;
  let host: string;
  let portText: string | undefined;
  if (authority.charCodeAt(0) === 91 /* [ */) {
    const close = authority.indexOf(']');
    if (close < 0) return undefined;
    host = authority.slice(1, close);
    const rest = authority.slice(close + 1);
    if (rest.length > 0) {
      if (rest.charCodeAt(0) !== 58 /* : */) return undefined;
      portText = rest.slice(1);
    }
    if (!host.includes(':')) return undefined;
  } else {
    const colon = authority.indexOf(':');
    if (colon >= 0) {
      host = authority.slice(0, colon);
      portText = authority.slice(colon + 1);
    } else host = authority;
  }
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  const norm = normalizeHost(host);
  if (!isValidHost(norm)) return undefined;
  return { host: norm, port, explicitPort: portText !== undefined };
}

/** An absolute-form request target: "http://host[:port]/path?query". */
export function parseAbsoluteUrl(url: string): Target | undefined {
  let scheme: 'http' | 'https';
  let rest: string;
  const lower = url.slice(0, 8).toLowerCase();
  if (lower.startsWith('http://')) {
    scheme = 'http';
    rest = url.slice(7);
  } else if (lower.startsWith('https://')) {
    scheme = 'https';
    rest = url.slice(8);
  } else return undefined;
  let end = rest.length;
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) {
      end = i;
      break;
    }
  }
  const authority = rest.slice(0, end);
  if (authority.includes('@')) return undefined; // userinfo: which host is meant is ambiguous
  const a = parseAuthority(authority, scheme === 'https' ? 443 : 80);
  if (!a) return undefined;
  let path = rest.slice(end);
  const hash = path.indexOf('#');
  if (hash >= 0) path = path.slice(0, hash);
  if (path.length === 0) path = '/';
  else if (path.charCodeAt(0) === 63 /* ? */) path = '/' + path;
  return { scheme, ...a, path };
}

/** Origin-form path check: must start with "/" (or be "*" for OPTIONS, which we do not forward). */
export function isOriginForm(path: string): boolean {
  return path.charCodeAt(0) === 47;
}
