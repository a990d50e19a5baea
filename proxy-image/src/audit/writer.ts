// Append-only JSON-lines writer that never drops a line. Lines are queued in memory and written
// once per turn of the event loop (or at once past FLUSH_BYTES) with one synchronous write: the
// hot path pays for a JSON.stringify, not a syscall, and order is kept without any bookkeeping.
// A line never waits long enough to outlive a young-generation GC: held for 20 ms (the earlier
// timer), queued lines were promoted to the old generation, and under load they were most of
// what it promoted; with the per-turn write, half as many mark-compacts (bench/proxy load,
// --trace-gc). close() (SIGTERM) and process 'exit' write whatever is queued: no decision is lost.
import { appendFileSync, closeSync, openSync, writeSync } from 'node:fs';

const FLUSH_BYTES = 256 * 1024;

export class LineWriter {
  private queue: string[] = [];
  private queuedBytes = 0;
  private soon: NodeJS.Immediate | undefined;
  /** retry after a full pipe (EAGAIN) */
  private timer: NodeJS.Timeout | undefined;
  private readonly fd: number;
  private readonly ownsFd: boolean;
  private closed = false;
  private leftover: Buffer | undefined;
  private readonly onExit = () => this.close();
  /** applied to every line right before it is written */
  scrub: (line: string) => string = (l) => l;

  constructor(private readonly path: string) {
    if (path === '-') {
      this.fd = 1;
      this.ownsFd = false;
    } else {
      this.fd = openSync(path, 'a', 0o640);
      this.ownsFd = true;
    }
    process.once('exit', this.onExit);
  }

  write(record: object): void {
    this.writeLine(JSON.stringify(record));
  }

  /** A line already serialized (one JSON object, no newline). */
  writeLine(line: string): void {
    if (this.closed) {
      // A late record during shutdown (a socket closed after close()): written at once.
      if (this.ownsFd) appendFileSync(this.path, this.scrub(line) + '\n');
      else writeSync(this.fd, this.scrub(line) + '\n');
      return;
    }
    this.queue.push(line);
    this.queuedBytes += line.length;
    if (this.queuedBytes >= FLUSH_BYTES) this.flush();
    else if (this.soon === undefined && this.timer === undefined) {
      this.soon = setImmediate(this.flushSoon);
      this.soon.unref();
    }
  }

  private readonly flushSoon = (): void => {
    this.soon = undefined;
    this.flush();
  };

  /** Writes everything queued now; on EAGAIN (a full pipe) keeps the rest and retries soon. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.soon) clearImmediate(this.soon);
    this.soon = undefined;
    if (this.queue.length === 0 && this.leftover === undefined) return;
    // One scrub over the whole batch: the scrubber's needles never contain a newline (see makeScrubber).
    const data = this.scrub(this.queue.join('\n') + '\n');
    this.queue = [];
    this.queuedBytes = 0;
    let buf = Buffer.from(data);
    if (this.leftover) buf = Buffer.concat([this.leftover, buf]);
    this.leftover = undefined;
    let off = 0;
    while (off < buf.length) {
      try {
        off += writeSync(this.fd, buf, off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        this.leftover = buf.subarray(off);
        if (!this.closed) {
          this.timer = setTimeout(() => this.flush(), 10);
          this.timer.unref();
        }
        return;
      }
    }
  }

  close(): void {
    if (this.closed) return;
    // Drain synchronously, retrying a full pipe: shutdown must not lose lines.
    for (let tries = 0; tries < 10_000; tries++) {
      this.flush();
      if (this.leftover === undefined) break;
    }
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    process.removeListener('exit', this.onExit);
    if (this.ownsFd) closeSync(this.fd);
  }
}
