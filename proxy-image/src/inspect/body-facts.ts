// Facts about a body that several inspectors need (byte histogram, entropy), computed once per
// buffer and shared: the chain hands the same Buffer to every inspector.
import { entropyOfCounts } from './entropy.ts';

interface Facts {
  hist?: Uint32Array;
  entropy?: number;
}

const cache = new WeakMap<Buffer, Facts>();

function factsOf(b: Buffer): Facts {
  let f = cache.get(b);
  if (!f) cache.set(b, (f = {}));
  return f;
}

/** Byte histogram, four interleaved counters to keep the loop free of store-to-load stalls. */
export function histogramOf(b: Buffer): Uint32Array {
  const f = factsOf(b);
  if (f.hist) return f.hist;
  if (b.length < 4096) {
    const hist = new Uint32Array(256);
    for (let i = 0; i < b.length; i++) hist[b[i]]++;
    return (f.hist = hist);
  }
  const lanes = new Uint32Array(1024);
  const n = b.length & ~3;
  for (let i = 0; i < n; i += 4) {
    lanes[b[i]]++;
    lanes[256 + b[i + 1]]++;
    lanes[512 + b[i + 2]]++;
    lanes[768 + b[i + 3]]++;
  }
  for (let i = n; i < b.length; i++) lanes[b[i]]++;
  const hist = new Uint32Array(256);
  for (let c = 0; c < 256; c++) hist[c] = lanes[c] + lanes[256 + c] + lanes[512 + c] + lanes[768 + c];
  return (f.hist = hist);
}

/** Shannon entropy of the body, bits per byte. */
export function entropyOf(b: Buffer): number {
  const f = factsOf(b);
  return (f.entropy ??= entropyOfCounts(histogramOf(b), b.length));
}

/** Control bytes other than tab, newline, carriage return and form feed. */
export function controlBytesOf(b: Buffer): number {
  const h = histogramOf(b);
  let n = h[0x7f];
  for (let c = 0; c < 0x20; c++) if (c !== 9 && c !== 10 && c !== 12 && c !== 13) n += h[c];
  return n;
}
