// Encrypted or packed data on its way out: Shannon entropy of bodies (bits per byte) and of long
// URL query values and path segments (bits per character). Media and archives are exempt, and so
// are signed-URL parameters on their providers' hosts.
import { hostMatches } from '../domains.ts';
import { entropyOf } from '../body-facts.ts';
import { stringEntropy } from '../entropy.ts';
import { percentDecode } from '../encodings.ts';
import { formatBytes, mediaType } from '../http-util.ts';
import { mask } from '../mask.ts';
import { exemptContentTypes, isExempt, urlParamAllowlist, type InspectorSettings } from '../settings.ts';
import type { Inspector, Message, Verdict } from '../types.ts';

export function entropyInspector(settings: InspectorSettings): Inspector {
  const e = settings.entropy;
  const exempt = exemptContentTypes(settings);
  const allowlist = Object.entries(urlParamAllowlist(settings));
  const verdict = (reason: string): Verdict => ({
    decision: e.action,
    inspector: 'entropy',
    severity: e.action === 'block' ? 'high' : 'medium',
    reason,
  });

  function exemptParams(host: string): Set<string> {
    const s = new Set<string>();
    for (const [d, ps] of allowlist) if (hostMatches(host, d)) for (const p of ps) s.add(p);
    return s;
  }

  function checkUrl(host: string, path: string): Verdict | undefined {
    const q = path.indexOf('?');
    const pathPart = q < 0 ? path : path.slice(0, q);
    for (const seg of pathPart.split('/')) {
      if (seg.length < e.minUrlValueLength) continue;
      const v = percentDecode(seg);
      const bits = stringEntropy(v);
      if (v.length >= e.minUrlValueLength && bits > e.urlThreshold)
        return verdict(
          `a ${v.length}-character path segment ${mask(v)} has ${bits.toFixed(2)} bits of entropy per character, above the ${e.urlThreshold} limit: it looks like encoded data`,
        );
    }
    if (q < 0) return undefined;
    let skip: Set<string> | undefined;
    for (const pair of path.slice(q + 1).split('&')) {
      const eq = pair.indexOf('=');
      const raw = eq < 0 ? pair : pair.slice(eq + 1);
      if (raw.length < e.minUrlValueLength) continue;
      const name = eq < 0 ? '' : percentDecode(pair.slice(0, eq));
      skip ??= exemptParams(host);
      if (skip.has(name)) continue;
      const v = percentDecode(raw);
      const bits = stringEntropy(v);
      if (v.length >= e.minUrlValueLength && bits > e.urlThreshold)
        return verdict(
          `query parameter "${name}" holds ${v.length} characters ${mask(v)} with ${bits.toFixed(2)} bits of entropy per character, above the ${e.urlThreshold} limit: it looks like encoded data`,
        );
    }
    return undefined;
  }

  return {
    name: 'entropy',
    inspect(msg: Message) {
      if (!e.enabled) return undefined;
      if (msg.kind === 'request') {
        const u = checkUrl(msg.host, msg.path);
        if (u) return u;
        const media = mediaType(msg.headers);
        if (msg.body.length < e.minBodyBytes || isExempt(media, exempt)) return undefined;
        const bits = entropyOf(msg.body);
        if (bits > e.bodyThreshold)
          return verdict(
            `the request body (${formatBytes(msg.body.length)}${media ? ' of ' + media : ''}) has ${bits.toFixed(2)} bits of entropy per byte, above the ${e.bodyThreshold} limit: it looks encrypted or compressed`,
          );
        return undefined;
      }
      if (msg.kind === 'websocket' && msg.direction === 'outbound') {
        if (msg.data.length < e.minBodyBytes) return undefined;
        const bits = entropyOf(msg.data);
        if (bits > e.bodyThreshold)
          return verdict(
            `a WebSocket frame (${formatBytes(msg.data.length)}) has ${bits.toFixed(2)} bits of entropy per byte, above the ${e.bodyThreshold} limit: it looks encrypted or compressed`,
          );
      }
      return undefined;
    },
  };
}
