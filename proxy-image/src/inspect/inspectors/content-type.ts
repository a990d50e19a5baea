// A body that is not what its Content-Type says: text, JSON or form bodies that are really binary
// or very high entropy, and media/archive types (exempt from entropy checks) without their magic.
import { controlBytesOf, entropyOf } from '../body-facts.ts';
import { decodeProblem } from '../content-encoding.ts';
import { isTextual, mediaType } from '../http-util.ts';
import type { InspectorSettings } from '../settings.ts';
import type { Inspector, Message, Verdict } from '../types.ts';
import { isUtf8 } from 'node:buffer';

/** Text never gets this dense: even UTF-8 CJK text stays well below it. */
export const TEXT_MAX_ENTROPY = 7.0;
// Below this, binary data is caught by the UTF-8 check alone (random bytes are never valid UTF-8).
const MIN_BYTES_FOR_ENTROPY = 4096;

const MAGIC: Array<[media: string, check: (b: Buffer) => boolean, what: string]> = [
  ['image/png', (b) => b.subarray(0, 8).equals(Buffer.from('89504e470d0a1a0a', 'hex')), 'a PNG signature'],
  ['image/jpeg', (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff, 'a JPEG signature'],
  ['image/gif', (b) => b.subarray(0, 4).toString('latin1') === 'GIF8', 'a GIF signature'],
  [
    'image/webp',
    (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP',
    'a WebP signature',
  ],
  ['application/zip', (b) => b[0] === 0x50 && b[1] === 0x4b, 'a ZIP signature'],
  ['application/gzip', (b) => b[0] === 0x1f && b[1] === 0x8b, 'a gzip signature'],
  ['application/x-gzip', (b) => b[0] === 0x1f && b[1] === 0x8b, 'a gzip signature'],
  ['application/pdf', (b) => b.subarray(0, 5).toString('latin1') === '%PDF-', 'a PDF signature'],
  ['application/x-bzip2', (b) => b.subarray(0, 3).toString('latin1') === 'BZh', 'a bzip2 signature'],
  ['application/x-xz', (b) => b.subarray(0, 6).equals(Buffer.from('fd377a585a00', 'hex')), 'an xz signature'],
  ['application/zstd', (b) => b.subarray(0, 4).equals(Buffer.from('28b52ffd', 'hex')), 'a zstd signature'],
  [
    'application/wasm',
    (b) => b.subarray(0, 4).equals(Buffer.from('0061736d', 'hex')),
    'a WebAssembly signature',
  ],
  [
    'application/x-7z-compressed',
    (b) => b.subarray(0, 6).equals(Buffer.from('377abcaf271c', 'hex')),
    'a 7z signature',
  ],
];

export function contentTypeInspector(settings: InspectorSettings): Inspector {
  const c = settings.contentType;
  const verdict = (reason: string): Verdict => ({
    decision: c.action,
    inspector: 'contentType',
    severity: c.action === 'block' ? 'high' : 'medium',
    reason,
  });
  return {
    name: 'contentType',
    inspect(msg: Message) {
      if (msg.kind !== 'request') return undefined;
      // A body that does not decode as it declares was seen by no other inspector: always block.
      const problem = decodeProblem(msg);
      if (problem) return { decision: 'block', inspector: 'contentType', severity: 'high', reason: problem };
      if (!c.enabled || msg.body.length === 0) return undefined;
      const media = mediaType(msg.headers);
      if (!media) return undefined;
      const body = msg.body;
      if (isTextual(media)) {
        if (!isUtf8(body))
          return verdict(`the body is declared ${media} but is not valid UTF-8 text: it is binary`);
        const ctl = controlBytesOf(body);
        if (ctl > 0)
          return verdict(
            `the body is declared ${media} but holds ${ctl} control byte${ctl > 1 ? 's' : ''}: it is binary`,
          );
        if (body.length >= MIN_BYTES_FOR_ENTROPY) {
          const bits = entropyOf(body);
          if (bits > TEXT_MAX_ENTROPY)
            return verdict(
              `the body is declared ${media} but has ${bits.toFixed(2)} bits of entropy per byte, more than text ever has (${TEXT_MAX_ENTROPY})`,
            );
        }
        return undefined;
      }
      for (const [m, check, what] of MAGIC) {
        if (m === media && !check(body))
          return verdict(`the body is declared ${media} but does not start with ${what}`);
      }
      return undefined;
    },
  };
}
