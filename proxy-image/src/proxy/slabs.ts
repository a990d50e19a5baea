// Copies of response bytes on their way to the agent, in buffers reused once the agent's socket
// has taken them. The upstream side reads into one shared buffer (origin-pool.ts), so a body
// chunk must be copied before it is queued on the agent's socket. Copies made afresh for every
// chunk (Buffer.from, or the parser's own) are freed only by the garbage collector, and their
// churn left the malloc heap at twice its size under 64 KiB responses over TLS (bench/proxy).
// A slab goes back to its pool only when the socket's write callback reports success, i.e. when
// node no longer reads it; after a failed write it is left to the collector.
//
// Each pool keeps as many idle slabs as were in use at once lately: every SHRINK_MS it drops
// the idle slabs beyond the most that were out during the last period, so after a load ends
// the pools empty within two periods.
const SHRINK_MS = 10_000;
/** idle slabs kept at most per pool, whatever the load (16 MB each) */
const MAX_IDLE_BYTES = 16 * 1024 * 1024;

class SlabPool {
  readonly free: Buffer[] = [];
  out = 0;
  /** the most slabs out at once since the last shrink */
  peak = 0;
  constructor(readonly size: number) {}

  take(): Buffer {
    if (++this.out > this.peak) this.peak = this.out;
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(slab: Buffer, ok: boolean): void {
    this.out--;
    if (ok && this.free.length * this.size < MAX_IDLE_BYTES) this.free.push(slab);
  }

  shrink(): void {
    if (this.free.length > this.peak) this.free.length = this.peak;
    this.peak = this.out;
  }
}

const pools = [new SlabPool(16 * 1024), new SlabPool(64 * 1024)];
setInterval(() => {
  for (const p of pools) p.shrink();
}, SHRINK_MS).unref();

export interface SlabCopy {
  data: Buffer;
  /** the write callback: pass it the write's error (if any) */
  done: (err?: Error | null) => void;
}

const noop = (): void => {};

/** A copy of `chunk` that the caller writes once and releases through `done`. */
export function copyToSlab(chunk: Buffer): SlabCopy {
  const pool = pools.find((p) => chunk.length <= p.size);
  if (pool === undefined) return { data: Buffer.from(chunk), done: noop };
  const slab = pool.take();
  chunk.copy(slab);
  let released = false;
  return {
    data: chunk.length === slab.length ? slab : slab.subarray(0, chunk.length),
    done: (err) => {
      if (released) return;
      released = true;
      pool.give(slab, !err);
    },
  };
}

/** idle slabs per pool, smallest first (for tests) */
export function idleSlabs(): number[] {
  return pools.map((p) => p.free.length);
}

/** runs one shrink period at once (for tests) */
export function shrinkSlabPools(): void {
  for (const p of pools) p.shrink();
}
