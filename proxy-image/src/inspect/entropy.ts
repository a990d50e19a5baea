// Shannon entropy: bits per symbol of a byte buffer or of a short string.

/** Byte histogram of buf[start, end). */
export function histogram(buf: Uint8Array, start = 0, end = buf.length): Uint32Array {
  const counts = new Uint32Array(256);
  for (let i = start; i < end; i++) counts[buf[i]]++;
  return counts;
}

export function entropyOfCounts(counts: ArrayLike<number>, total: number): number {
  if (total <= 0) return 0;
  let sum = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (c > 0) sum += c * Math.log2(c);
  }
  return Math.log2(total) - sum / total;
}

export function bytesEntropy(buf: Uint8Array, start = 0, end = buf.length): number {
  return entropyOfCounts(histogram(buf, start, end), end - start);
}

/** Entropy per character of a string (used for URL values and DNS labels, which are short). */
export function stringEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let sum = 0;
  for (const c of counts.values()) sum += c * Math.log2(c);
  return Math.log2(s.length) - sum / s.length;
}
