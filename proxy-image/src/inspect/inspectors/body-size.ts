// How much a request may carry: a global limit and per-host limits (the most specific domain wins).
import { mostSpecific } from '../domains.ts';
import { formatBytes, header } from '../http-util.ts';
import type { InspectorSettings } from '../settings.ts';
import type { Inspector, Message } from '../types.ts';

export function bodySizeInspector(settings: InspectorSettings): Inspector {
  const { maxRequestBytes, perHost } = settings.bodySize;
  return {
    name: 'bodySize',
    inspect(msg: Message) {
      if (msg.kind !== 'request' && !(msg.kind === 'websocket' && msg.direction === 'outbound'))
        return undefined;
      const limit = mostSpecific(msg.host, perHost) ?? maxRequestBytes;
      let size = msg.kind === 'request' ? msg.body.length : msg.data.length;
      if (msg.kind === 'request') {
        const declared = Number(header(msg.headers, 'content-length'));
        if (Number.isFinite(declared) && declared > size) size = declared;
      }
      if (size <= limit) return undefined;
      const what = msg.kind === 'request' ? 'request body' : 'WebSocket frame';
      return {
        decision: 'block',
        inspector: 'bodySize',
        severity: 'medium',
        reason: `the ${what} is ${formatBytes(size)}; this cage allows at most ${formatBytes(limit)} to ${msg.host}`,
      };
    },
  };
}
