// Reads the server name (SNI) from the first bytes of a TLS connection, without consuming
// them: passthrough decisions and transparent routing need it before any TLS is spoken. Pure.

export type HelloResult =
  | { kind: 'more' } // not enough bytes yet
  | { kind: 'not-tls' }
  | { kind: 'malformed'; reason: string }
  | { kind: 'hello'; sni: string | undefined };

const MAX_HELLO = 64 * 1024;

/** Joins the handshake fragments of the leading handshake records. */
function handshakeBytes(buf: Buffer): Buffer | 'more' | 'not-tls' | string {
  if (buf.length < 1) return 'more';
  if (buf[0] !== 0x16) return 'not-tls';
  const parts: Buffer[] = [];
  let have = 0;
  let off = 0;
  for (;;) {
    if (buf.length < off + 5) return 'more';
    if (buf[off] !== 0x16) return 'record that is not a handshake inside the ClientHello';
    if (buf[off + 1] !== 3) return 'unknown TLS record version';
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16384 + 2048) return 'bad TLS record length';
    if (buf.length < off + 5 + len) return 'more';
    parts.push(buf.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    if (have >= 4) {
      const hs = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      if (hs[0] !== 1) return 'first handshake message is not a ClientHello';
      const need = 4 + hs.readUIntBE(1, 3);
      if (need > MAX_HELLO) return 'ClientHello too large';
      if (have >= need) return hs.subarray(0, need);
    }
  }
}

export function parseClientHello(buf: Buffer): HelloResult {
  if (buf.length > MAX_HELLO + 1024) return { kind: 'malformed', reason: 'ClientHello too large' };
  const hs = handshakeBytes(buf);
  if (hs === 'more') return { kind: 'more' };
  if (hs === 'not-tls') return { kind: 'not-tls' };
  if (typeof hs === 'string') return { kind: 'malformed', reason: hs };
  try {
    return { kind: 'hello', sni: sniFrom(hs) };
  } catch {
    return { kind: 'malformed', reason: 'truncated ClientHello' };
  }
}

function sniFrom(hs: Buffer): string | undefined {
  let p = 4 + 2 + 32; // header, client_version, random
  const need = (n: number) => {
    if (p + n > hs.length) throw new RangeError('truncated');
  };
  need(1);
  p += 1 + hs[p]; // session id
  need(2);
  p += 2 + hs.readUInt16BE(p); // cipher suites
  need(1);
  p += 1 + hs[p]; // compression methods
  if (p === hs.length) return undefined; // no extensions
  need(2);
  const extEnd = p + 2 + hs.readUInt16BE(p);
  p += 2;
  if (extEnd > hs.length) throw new RangeError('truncated');
  while (p + 4 <= extEnd) {
    const type = hs.readUInt16BE(p);
    const len = hs.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) throw new RangeError('truncated');
    if (type === 0) {
      let q = p + 2; // server_name_list length
      const listEnd = p + len;
      while (q + 3 <= listEnd) {
        const nameType = hs[q];
        const nameLen = hs.readUInt16BE(q + 1);
        q += 3;
        if (q + nameLen > listEnd) throw new RangeError('truncated');
        if (nameType === 0) return hs.toString('latin1', q, q + nameLen);
        q += nameLen;
      }
      return undefined;
    }
    p += len;
  }
  return undefined;
}
