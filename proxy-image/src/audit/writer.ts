// Append-only JSON-lines writer that never drops a line: lines are queued in memory and written
// in one batch per event-loop turn (writeSync: when it returns, the kernel has the bytes), and
// whatever is queued is written synchronously on close, so SIGTERM loses nothing.
import { closeSync, openSync, writeSync } from 'node:fs';

export class LineWriter {
  private queue: string[] = [];
  private scheduled = false;
  private fd: number;
  private readonly ownsFd: boolean;
  private closed = false;
  private leftover: Buffer | undefined;
  /** applied to every line right before it is written */
  scrub: (line: string) => string = (l) => l;

  constructor(path: string) {
    if (path === '-') {
      this.fd = 1;
      this.ownsFd = false;
    } else {
      this.fd = openSync(path, 'a', 0o640);
      this.ownsFd = true;
    }
  }

  write(record: object): void {
    this.queue.push(JSON.stringify(record));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes everything queued; on a transient error (EAGAIN on a pipe) keeps the rest and retries. */
  flush(): void {
    this.scheduled = false;
    if (this.closed || (this.queue.length === 0 && this.leftover === undefined)) return;
    let data = '';
    for (const l of this.queue) data += this.scrub(l) + '\n';
    this.queue = [];
    let buf = Buffer.from(data);
    if (this.leftover !== undefined) buf = Buffer.concat([this.leftover, buf]);
    this.leftover = undefined;
    let off = 0;
    while (off < buf.length) {
      try {
        off += writeSync(this.fd, buf, off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        this.leftover = buf.subarray(off);
        this.scheduled = true;
        setTimeout(() => this.flush(), 10);
        return;
      }
    }
  }

  close(): void {
    if (this.closed) return;
    // Drain synchronously, retrying EAGAIN: shutdown must not lose lines.
    for (let tries = 0; (this.queue.length > 0 || this.leftover) && tries < 1000; tries++) {
      try {
        this.flush();
      } catch {
        break;
      }
    }
    this.closed = true;
    if (this.ownsFd) closeSync(this.fd);
  }
}
