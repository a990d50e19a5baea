// Long base64 runs in text bodies and frames: the plainest way to smuggle binary data out.
import { mediaType } from '../http-util.ts';
import { exemptContentTypes, isExempt, type InspectorSettings } from '../settings.ts';
import type { Inspector, Message } from '../types.ts';

const B64 = new Uint8Array(256);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_')
  B64[ch.charCodeAt(0)] = 1;

/** The longest run of base64 characters (either alphabet; JSON-escaped "\/" counts), and where. */
export function longestBase64Run(b: Uint8Array): { start: number; length: number } {
  let best = 0;
  let bestStart = 0;
  let run = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (B64[c] === 1) run++;
    else if (c === 92 && b[i + 1] === 47) {
      run += 2; // "\/" inside a JSON string
      i++;
    } else {
      if (run > best) {
        best = run;
        bestStart = i - run;
      }
      run = 0;
    }
  }
  if (run > best) {
    best = run;
    bestStart = b.length - run;
  }
  return { start: bestStart, length: best };
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
      const run = longestBase64Run(data);
      if (run.length < s.minLength) return undefined;
      return {
        decision: s.action,
        inspector: 'base64',
        severity: s.action === 'block' ? 'high' : 'low',
        reason: `the ${msg.kind === 'request' ? 'request body' : 'WebSocket frame'} holds a ${run.length.toLocaleString('en-US')}-character base64 run at offset ${run.start} (limit ${s.minLength.toLocaleString('en-US')})`,
      };
    },
  };
}
