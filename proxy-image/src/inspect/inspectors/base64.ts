// Long base64 runs in text bodies and frames: the plainest way to smuggle binary data out.
import { mediaType } from '../http-util.ts';
import { exemptContentTypes, isExempt, type InspectorSettings } from '../settings.ts';
import type { Inspector, Message } from '../types.ts';

const B64 = new Uint8Array(256);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_')
  B64[ch.charCodeAt(0)] = 1;

/**
 * The first run of at least `min` base64 characters (either alphabet; JSON-escaped "\/" counts),
 * found by skip-scan: if the byte a run starting at i would need last is not base64, none does.
 */
export function findBase64Run(b: Uint8Array, min: number): { start: number; length: number } | undefined {
  const n = b.length;
  let i = 0;
  while (i + min <= n) {
    if (B64[b[i + min - 1]] === 0) {
      i += min;
      continue;
    }
    let j = i + min - 2;
    while (j >= i && B64[b[j]] === 1) j--;
    if (j >= i) {
      i = j + 1;
      continue;
    }
    let e = i + min;
    while (e < n && B64[b[e]] === 1) e++;
    return { start: i, length: e - i };
  }
  return undefined;
}

export function base64Inspector(settings: InspectorSettings): Inspector {
  const s = settings.base64;
  const exempt = exemptContentTypes(settings);
  return {
    name: 'base64',
    inspect(msg: Message) {
      if (!s.enabled) return undefined;
      let data: Buffer;
      if (msg.kind === 'request') {
        if (isExempt(mediaType(msg.headers), exempt)) return undefined;
        data = msg.body;
      } else if (msg.kind === 'websocket' && msg.direction === 'outbound' && !msg.binary) data = msg.data;
      else return undefined;
      if (data.length < s.minLength) return undefined;
      const run = findBase64Run(data, s.minLength);
      if (!run) return undefined;
      return {
        decision: s.action,
        inspector: 'base64',
        severity: s.action === 'block' ? 'high' : 'low',
        reason: `the ${msg.kind === 'request' ? 'request body' : 'WebSocket frame'} holds a ${run.length.toLocaleString('en-US')}-character base64 run at offset ${run.start} (limit ${s.minLength.toLocaleString('en-US')})`,
      };
    },
  };
}
