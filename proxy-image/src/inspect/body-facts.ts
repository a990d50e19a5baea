// Facts about a body that several inspectors need (byte histogram, entropy), computed once per
// buffer and shared: the chain hands the same Buffer to every inspector.
import { entropyOfCounts } from './entropy.ts';

interface Facts {
  hist?: Uint32Array;
  counted?: number;
  entropy?: number;
}

const cache = new WeakMap<Buffer, Facts>();

function factsOf(b: Buffer): Facts {
  let f = cache.get(b);
  if (!f) cache.set(b, (f = {}));
  return f;
}

/** Bodies above this are sampled for the histogram: every SAMPLE_EVERY-th block of SAMPLE_BLOCK. */
export const SAMPLE_ABOVE = 256 * 1024;
const SAMPLE_BLOCK = 4096;
const SAMPLE_EVERY = 4;

function countInto(lanes: Uint32Array, b: Buffer, from: number, to: number): number {
  // Whole aligned 32-bit words, one load for four bytes (which lane a byte lands in does not
  // matter: the lanes are summed).
  let i = from;
  while (i < to && ((b.byteOffset + i) & 3) !== 0) lanes[b[i++]]++;
  const words = (to - i) >> 2;
  const u = new Uint32Array(b.buffer, b.byteOffset + i, words);
  for (let k = 0; k < words; k++) {
    const w = u[k];
    lanes[w & 255]++;
    lanes[256 + ((w >>> 8) & 255)]++;
    lanes[512 + ((w >>> 16) & 255)]++;
    lanes[768 + (w >>> 24)]++;
  }
  for (i += words * 4; i < to; i++) lanes[b[i]]++;
  return to - from;
}

/**
 * Byte histogram (four interleaved counters keep the loop free of store-to-load stalls) and how
 * many bytes it counted. Up to SAMPLE_ABOVE bytes, all of them; above, a quarter of the body in
 * evenly spread blocks: entropy is a property of the whole distribution, and a quarter of a large
 * body estimates it to a hundredth of a bit.
 */
export function histogramOf(b: Buffer): { hist: Uint32Array; counted: number } {
  const f = factsOf(b);
  if (f.hist) return { hist: f.hist, counted: f.counted as number };
  const lanes = new Uint32Array(1024);
  let counted = 0;
  if (b.length <= SAMPLE_ABOVE) counted = countInto(lanes, b, 0, b.length);
  else
    for (let at = 0; at < b.length; at += SAMPLE_BLOCK * SAMPLE_EVERY)
      counted += countInto(lanes, b, at, Math.min(b.length, at + SAMPLE_BLOCK));
  const hist = new Uint32Array(256);
  for (let c = 0; c < 256; c++) hist[c] = lanes[c] + lanes[256 + c] + lanes[512 + c] + lanes[768 + c];
  f.hist = hist;
  f.counted = counted;
  return { hist, counted };
}

/** Shannon entropy of the body, bits per byte. */
export function entropyOf(b: Buffer): number {
  const f = factsOf(b);
  if (f.entropy === undefined) {
    const { hist, counted } = histogramOf(b);
    f.entropy = entropyOfCounts(hist, counted);
  }
  return f.entropy;
}

const CONTROL = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) if (c !== 9 && c !== 10 && c !== 12 && c !== 13) CONTROL[c] = 1;
CONTROL[0x7f] = 1;

/** Control bytes other than tab, newline, carriage return and form feed (at least 1 if any). */
export function controlBytesOf(b: Buffer): number {
  if (b.length > SAMPLE_ABOVE) {
    // Sampled count, plus the one control byte every binary blob has, searched in all of it.
    let n = 0;
    const { hist } = histogramOf(b);
    for (let c = 0; c < 256; c++) if (CONTROL[c] === 1) n += hist[c];
    return n > 0 ? n : b.indexOf(0) >= 0 ? 1 : 0;
  }
  let n = 0;
  const known = cache.get(b)?.hist;
  if (known) {
    // The entropy inspector ran first and counted every byte already.
    for (let c = 0; c < 256; c++) if (CONTROL[c] === 1) n += known[c];
    return n;
  }
  for (let i = 0; i < b.length; i++) n += CONTROL[b[i]];
  return n;
}
