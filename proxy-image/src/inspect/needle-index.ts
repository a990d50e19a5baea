// Many known strings (real values in every encoding, placeholders) found in one sampled pass: every
// needle of length L >= minLen contains the 4 bytes at some position i = k * stride of the haystack
// (stride = minLen - 3), so only those positions are looked up, in a bitmap of the needles' 4-grams.

interface Entry {
  needle: number;
  offset: number;
}

const Q = 4;

export class NeedleIndex {
  private readonly bufs: Buffer[];
  private readonly grams = new Map<number, Entry[]>();
  private readonly bitmap = new Uint8Array(1 << 16);
  private readonly stride: number;
  /** Needles shorter than Q: searched with indexOf. */
  private readonly short: number[] = [];

  constructor(needles: readonly string[]) {
    this.bufs = needles.map((n) => Buffer.from(n, 'latin1'));
    let min = Infinity;
    this.bufs.forEach((b, needle) => {
      if (b.length < Q) {
        this.short.push(needle);
        return;
      }
      min = Math.min(min, b.length);
      for (let offset = 0; offset + Q <= b.length; offset++) {
        const g = b.readInt32LE(offset);
        let list = this.grams.get(g);
        if (!list) this.grams.set(g, (list = []));
        list.push({ needle, offset });
        this.bitmap[hash(g)] = 1;
      }
    });
    this.stride = Number.isFinite(min) ? min - Q + 1 : 1;
  }

  get size(): number {
    return this.bufs.length;
  }

  /** [needle index, offset] of each occurrence found (an occurrence may be listed twice). */
  find(b: Buffer): Array<[number, number]> {
    const hits: Array<[number, number]> = [];
    const n = b.length;
    if (this.grams.size > 0) {
      const bitmap = this.bitmap;
      const stride = this.stride;
      for (let i = 0; i + Q <= n; i += stride) {
        const g = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
        if (bitmap[hash(g)] === 0) continue;
        const list = this.grams.get(g);
        if (!list) continue;
        for (const { needle, offset } of list) {
          const start = i - offset;
          const nb = this.bufs[needle];
          if (start < 0 || start + nb.length > n) continue;
          if (b.compare(nb, 0, nb.length, start, start + nb.length) === 0) hits.push([needle, start]);
        }
      }
    }
    for (const needle of this.short) {
      const at = b.indexOf(this.bufs[needle]);
      if (at >= 0) hits.push([needle, at]);
    }
    return hits;
  }
}

function hash(g: number): number {
  return Math.imul(g, 0x9e3779b1) >>> 16;
}
